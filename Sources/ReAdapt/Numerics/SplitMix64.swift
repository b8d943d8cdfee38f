import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): the one seeded generator and integer mixer of the project.
/// Seeds batch orders, LoRA initialisation, dropout keys, bootstrap resamples, benchmark data and
/// xoshiro's state, identically on every platform (Swift's own generator cannot be seeded).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The increment: 2^64 / φ.
    public static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= Self.golden
        return Self.finalize(state)
    }

    /// SplitMix64's output function: a bijective mix of 64 bits (also a counter-based hash,
    /// `finalize(key &+ i &* golden)`, as the dropout masks use it).
    @inline(__always)
    public static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An index in 0..<n: the high word of next() × n (Lemire's multiply-shift without the
    /// rejection step; its bias is below n / 2^64, irrelevant for bootstrap sizes).
    public mutating func nextIndex(below n: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }
}
