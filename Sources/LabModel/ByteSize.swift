/// Sizes as people write them: `64M`, `1G`, `512k`, `256MiB`, `4096`.
/// Units are 1024-based, as the kernel's and docker's are.
public enum ByteSize {
    /// The number of bytes, or a one-line error naming `what` (`--memory`).
    public static func parse(_ text: String, what: String) throws -> UInt64 {
        let trimmed = text.filter { $0 != " " && $0 != "\t" }
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        var unit = trimmed.dropFirst(digits.count).lowercased()
        if unit.hasSuffix("ib") { unit.removeLast(2) } else if unit.hasSuffix("b") { unit.removeLast() }
        let multipliers: [String: Double] = ["": 1, "k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776]
        guard let number = Double(digits), number.isFinite, number >= 0, let multiplier = multipliers[unit] else {
            throw LabError(.invalidInput, "\(what) '\(text)' is not a size; use a number with an optional unit k, M, G (1024-based), e.g. 64M")
        }
        let bytes = number * multiplier
        guard bytes < Double(UInt64.max / 2) else { throw LabError(.invalidInput, "\(what) '\(text)' is too large") }
        return UInt64(bytes.rounded())
    }

    /// `64 MiB`, `1.5 GiB`, `512 KiB`, `100 B`.
    public static func format(_ bytes: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where bytes >= size {
            let value = Double(bytes) / Double(size)
            return value == value.rounded() ? "\(Int(value)) \(name)" : "\((value * 10).rounded() / 10) \(name)"
        }
        return "\(bytes) B"
    }
}
