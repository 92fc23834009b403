import Foundation
import Yams

/// YAML in, Codable types out, with errors a person can act on: each names
/// the file, the line and the field, and unknown keys are errors rather than
/// silently ignored (a misspelt `repetitons:` must not fall back to a default).
public enum StrictYAML {
    /// Decodes `type` from `text`; `file` only names the source in errors.
    /// Throws `LabError(.invalidInput)` whose message is
    /// `FILE:LINE: FIELD: PROBLEM`.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String, file: String) throws -> T {
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw LabError(.invalidInput, "\(file): the file is empty; it must be a YAML mapping")
            }
            node = composed
        } catch let error as YamlError {
            throw LabError(.invalidInput, "\(file): \(describe(error))")
        }
        guard case .mapping = node else {
            throw LabError(.invalidInput, "\(file):\(node.mark?.line ?? 1): the document must be a mapping of keys to values")
        }
        do {
            return try YAMLDecoder().decode(type, from: node)
        } catch let error as DecodingError {
            throw LabError(.invalidInput, describe(error, in: node, file: file))
        } catch let error as YamlError {
            throw LabError(.invalidInput, "\(file): \(describe(error))")
        }
    }

    /// Reads and decodes a YAML file.
    public static func decode<T: Decodable>(_ type: T.Type, file path: String) throws -> T {
        let text: String
        do {
            text = try FileSystem.readText(path)
        } catch let error as LabError {
            throw LabError(.invalidInput, "\(path): cannot read: \(error.message)")
        }
        return try decode(type, from: text, file: path)
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): malformed YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "malformed YAML: duplicate keys \(duplicates.joined(separator: ", "))"
        default:
            return "malformed YAML: \(error)"
        }
    }

    static func describe(_ error: DecodingError, in root: Node, file: String) -> String {
        let (path, problem): ([CodingKey], String)
        switch error {
        case .keyNotFound(let key, let context):
            (path, problem) = (context.codingPath, "missing required field '\(key.stringValue)'")
        case .typeMismatch(let type, let context):
            (path, problem) = (context.codingPath, "expected \(typeName(type)): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            (path, problem) = (context.codingPath, "expected \(typeName(type)), found nothing")
        case .dataCorrupted(let context):
            (path, problem) = (context.codingPath, context.debugDescription)
        @unknown default:
            (path, problem) = ([], "\(error)")
        }
        let line = mark(of: path, in: root)?.line ?? 1
        let field = fieldName(path)
        return "\(file):\(line): \(field.isEmpty ? "" : field + ": ")\(problem)"
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is UInt32.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }

    /// `image.files[2].mode`.
    public static func fieldName(_ path: [CodingKey]) -> String {
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

    /// The position of the node a coding path leads to (the key's own
    /// position for the last step into a mapping), or the deepest one found.
    static func mark(of path: [CodingKey], in root: Node) -> Mark? {
        var node = root
        var best = root.mark
        for key in path {
            switch node {
            case .mapping(let mapping):
                guard let pair = mapping.first(where: { $0.key.string == key.stringValue }) else { return best }
                best = pair.key.mark ?? best
                node = pair.value
            case .sequence(let sequence):
                guard let index = key.intValue, index < sequence.count else { return best }
                node = sequence[index]
                best = node.mark ?? best
            default:
                return best
            }
        }
        return best
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
