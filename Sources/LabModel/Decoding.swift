/// Helpers for the models' strict decoding: unknown keys are errors, choices
/// name what they accept, and a coding path reads as `image.files[2].mode`.
/// The YAML front end that turns these errors into `FILE:LINE: FIELD:
/// PROBLEM` is LabCore's `StrictYAML` (it wraps Yams).
public enum CodingPathText {
    /// `image.files[2].mode`.
    public static func describe(_ path: [CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text
    }

    /// The coding path of a decoding error (with the missing key, if one is).
    public static func path(of error: DecodingError) -> [CodingKey] {
        switch error {
        case .keyNotFound(let key, let context): context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): context.codingPath
        @unknown default: []
        }
    }
}

/// A coding key for any string, to see every key of a mapping.
public struct AnyCodingKey: CodingKey {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension Decoder {
    /// Throws naming the first key of this mapping that `Keys` does not list,
    /// with the accepted keys.
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let accepted = Keys.allCases.map(\.stringValue)
        let container = try container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !accepted.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key],
                debugDescription: "unknown key '\(key.stringValue)'; accepted: \(accepted.joined(separator: ", "))"))
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes a string that must be one of `accepted`, naming them when it is not.
    public func decodeChoice<T: RawRepresentable & CaseIterable>(_ type: T.Type, forKey key: Key) throws -> T where T.RawValue == String {
        let raw = try decode(String.self, forKey: key)
        guard let value = T(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription: "unknown value '\(raw)'; accepted: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}

/// A YAML scalar taken as its text, whatever type YAML would give it
/// (`seconds: 1`, `memory: 256M`). A number is written back without a
/// fraction when it has none; a number too large for an integer keeps its
/// own text (it is refused later, by whoever reads it as a quantity).
public struct ScalarText: Decodable, Sendable {
    public var text: String
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
        } else if let number = try? container.decode(Double.self) {
            if number.isFinite, number == number.rounded(), abs(number) < 9.0e15 {
                self.text = String(Int64(number))
            } else {
                self.text = String(number)
            }
        } else {
            self.text = String(try container.decode(Bool.self))
        }
    }
}

extension KeyedDecodingContainer {
    /// A finite number in `range`, or nil when absent; names the range when it is not in it.
    public func decodeNumber(_ key: Key, in range: ClosedRange<Double>, what: String = "a number") throws -> Double? {
        guard let value = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard value.isFinite, range.contains(value) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription: "\(NumberText.short(value)) is out of range: \(what) from \(NumberText.short(range.lowerBound)) to \(NumberText.short(range.upperBound))")
        }
        return value
    }

    /// A whole number in `range`, or nil when absent. YAML's `.inf`, `1e300`
    /// and fractions are refused with the range rather than trapping.
    public func decodeInteger(_ key: Key, in range: ClosedRange<Int>) throws -> Int? {
        guard contains(key) else { return nil }
        let value: Double
        if let integer = try? decode(Int.self, forKey: key) {
            value = Double(integer)
        } else {
            value = try decode(Double.self, forKey: key)
        }
        guard value.isFinite, value == value.rounded(), value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "\(NumberText.short(value)) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(value)
    }
}

/// Numbers as a person writes them: `1`, `0.5`, `inf`.
public enum NumberText {
    public static func short(_ value: Double) -> String {
        if !value.isFinite { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        if value == value.rounded(), abs(value) < 9.0e15 { return String(Int64(value)) }
        return String(value)
    }
}
