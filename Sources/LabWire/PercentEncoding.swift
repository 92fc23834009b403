/// URL-style percent-encoding, for READY fields and the kernel command line.
public enum PercentEncoding {
    public struct Invalid: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Decodes `%XX` escapes; a bad or truncated escape, or bytes that are
    /// not UTF-8, are errors rather than guesses.
    public static func decode<S: StringProtocol>(_ text: S) throws(Invalid) -> String {
        let bytes = try decodeBytes(text)
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw Invalid(reason: "percent-decoded '\(text)' is not UTF-8")
        }
        return decoded
    }

    /// The bytes `%XX` escapes stand for (any bytes: a program's output).
    public static func decodeBytes<S: StringProtocol>(_ text: S) throws(Invalid) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw Invalid(reason: "invalid percent-encoding in '\(text)': '%' must be followed by two hex digits")
            }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// Encodes any bytes as one ASCII token: what `encodeField` encodes, and
    /// every byte above 0x7E (output that need not be UTF-8).
    public static func encodeBytes(_ input: some Sequence<UInt8>) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in input {
            if byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "\"") {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Encodes space, `%`, `=`, `"` and control characters, so that a value
    /// stays one token of a space-separated line.
    public static func encodeField(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte <= 0x20 || byte == 0x7F || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "\"") {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
