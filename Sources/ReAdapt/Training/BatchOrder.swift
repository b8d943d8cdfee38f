import Foundation

/// The order in which training sequences are visited: a fresh seeded shuffle every epoch, cut into
/// batches of `batchSize` sequence indices. An epoch's last partial batch is skipped (PyTorch's
/// `DataLoader(drop_last=True)`) so every step has the batch shape the model was sized for.
///
/// The struct is its own resumable position: encode it into a checkpoint, decode it on resume,
/// and `next()` continues with exactly the batches an uninterrupted run would have seen. The
/// shuffle depends only on (seed, epoch), so nothing else needs saving.
public struct BatchOrder: Codable, Equatable, Sendable {
    public let seed: UInt64
    public let sequenceCount: Int
    public let batchSize: Int
    /// Epochs completed (0-based index of the current epoch).
    public private(set) var epoch: Int
    /// Batches already returned in the current epoch.
    public private(set) var index: Int

    public init(sequenceCount: Int, batchSize: Int, seed: UInt64, epoch: Int = 0, index: Int = 0) throws {
        guard batchSize >= 1, batchSize <= sequenceCount else {
            throw TrainingDataError.badBatchSize(batchSize: batchSize, sequences: sequenceCount)
        }
        self.sequenceCount = sequenceCount; self.batchSize = batchSize; self.seed = seed
        self.epoch = epoch; self.index = index
    }

    public var batchesPerEpoch: Int { sequenceCount / batchSize }

    /// The sequence indices of the next batch; moves to the next epoch (and its shuffle) when the
    /// current one has no full batch left.
    public mutating func next() -> [Int] {
        if index >= batchesPerEpoch { epoch += 1; index = 0 }
        let order = Self.permutation(count: sequenceCount, seed: seed, epoch: epoch)
        defer { index += 1 }
        return Array(order[index * batchSize..<(index + 1) * batchSize])
    }

    /// The visiting order of epoch `epoch`: a Fisher–Yates shuffle driven by SplitMix64 seeded
    /// from (seed, epoch), with unbiased bounded draws, so it is the same on every platform.
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var order = Array(0..<count)
        var random = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0xD1B5_4A32_D192_ED03))
        func nextRandom() -> UInt64 { random.next() }
        var i = count - 1
        while i > 0 {
            // Rejection sampling: draws beyond the largest multiple of the bound are redrawn.
            let bound = UInt64(i + 1)
            let limit = UInt64.max - UInt64.max % bound
            var r = nextRandom()
            while r >= limit { r = nextRandom() }
            order.swapAt(i, Int(r % bound))
            i -= 1
        }
        return order
    }
}
