import Foundation

/// Parses a size the way transformers' `max_shard_size` reads it: a byte count, or a number with
/// KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024), case-insensitive
/// ("5GB", "500MB", "2GiB", "123"). Nil when malformed or below one byte.
public func parseByteSize(_ text: String) -> Int? {
    let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
    let units: [(String, Double)] = [("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824), ("tib", 1_099_511_627_776),
                                     ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12), ("b", 1)]
    var number = trimmed, factor = 1.0
    if let unit = units.first(where: { trimmed.hasSuffix($0.0) }) {
        number = String(trimmed.dropLast(unit.0.count)).trimmingCharacters(in: .whitespaces)
        factor = unit.1
    }
    guard let value = Double(number), value.isFinite, value * factor >= 1, value * factor < 9e18 else { return nil }
    return Int(value * factor)
}

/// transformers' default `max_shard_size` for `save_pretrained` (v5).
public let defaultMaxShardSize = "50GB"
