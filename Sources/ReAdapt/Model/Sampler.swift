import Foundation

/// xoshiro256** seeded through splitmix64: small, fast and reproducible on every platform
/// (Swift's SystemRandomNumberGenerator cannot be seeded).
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var seeder = SplitMix64(seed: seed)
        s = (seeder.next(), seeder.next(), seeder.next(), seeder.next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform Double in [0, 1) from the top 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// How the next token is chosen. Temperature 0 means greedy.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float
    /// Keep only the k most likely tokens (0 = off).
    public var topK: Int
    /// Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches p (1 = off).
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingOptions()
}

/// Chooses tokens from logits like transformers' generate: temperature, then top-k, then top-p
/// (TopPLogitsWarper), then a draw from the softmax of what is left. Scratch space is reused.
public struct Sampler {
    public let options: SamplingOptions
    private var rng: Xoshiro256
    private var order: [Int] = []
    private var probabilities: [Double] = []
    private var heap: [Float] = []

    public init(_ options: SamplingOptions) {
        self.options = options
        rng = Xoshiro256(seed: options.seed)
    }

    /// The first index of the largest logit (torch.argmax's tie rule).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }

    /// The k-th largest value (k >= 1) using `heap` as scratch: a min-heap of the k largest so far.
    static func kthLargest(_ values: UnsafeBufferPointer<Float>, k: Int, heap: inout [Float]) -> Float {
        heap.removeAll(keepingCapacity: true)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l] < heap[m] { m = l }
                if r < heap.count && heap[r] < heap[m] { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for v in values {
            if heap.count < k {
                heap.append(v)
                var i = heap.count - 1
                while i > 0 && heap[(i - 1) / 2] > heap[i] { heap.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
            } else if v > heap[0] {
                heap[0] = v
                siftDown(0)
            }
        }
        return heap[0]
    }

    public mutating func sample(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { sample($0) }
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        precondition(!logits.isEmpty, "sampling from empty logits")
        if options.temperature <= 0 { return Sampler.argmax(logits) }
        let t = options.temperature
        let n = logits.count
        // Candidates, most likely first (ties by lower index). Top-k first finds the k-th largest
        // logit with a size-k heap (O(n log k)) and keeps everything >= it, ties included, as
        // TopKLogitsWarper's `< kth value` test does; only top-p alone needs a full sort, and plain
        // temperature sampling needs no order at all.
        order.removeAll(keepingCapacity: true)
        if options.topK > 0 && options.topK < n {
            let kth = Sampler.kthLargest(logits, k: options.topK, heap: &heap)
            for i in 0..<n where logits[i] >= kth { order.append(i) }
        } else {
            order.append(contentsOf: 0..<n)
        }
        if options.topK > 0 || options.topP < 1 {
            order.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        }
        var kept = order.count

        // Softmax over the kept candidates, in Double.
        probabilities.removeAll(keepingCapacity: true)
        var maxLogit = -Float.infinity
        for i in order where logits[i] > maxLogit { maxLogit = logits[i] }
        let maxScaled = Double(maxLogit / t)
        var sum = 0.0
        for i in 0..<kept {
            let p = exp(Double(logits[order[i]] / t) - maxScaled)
            probabilities.append(p)
            sum += p
        }
        for i in 0..<kept { probabilities[i] /= sum }

        if options.topP < 1 {
            // TopPLogitsWarper sorts ascending and drops tokens whose cumulative probability is
            // <= 1 - p, always keeping the most likely one. Equivalently, walking from the least
            // likely kept token upward, drop while the running sum stays <= 1 - p.
            let threshold = 1 - Double(options.topP)
            var cumulative = 0.0
            var newKept = kept
            for i in stride(from: kept - 1, through: 1, by: -1) {
                cumulative += probabilities[i]
                if cumulative <= threshold { newKept = i } else { break }
            }
            if newKept < kept {
                kept = newKept
                let total = probabilities[0..<kept].reduce(0, +)
                for i in 0..<kept { probabilities[i] /= total }
            }
        }

        let u = rng.nextUnit()
        var cumulative = 0.0
        for i in 0..<kept {
            cumulative += probabilities[i]
            if u < cumulative { return order[i] }
        }
        return order[kept - 1]
    }
}
