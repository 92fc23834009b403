import Foundation
import LabModel
import Yams

/// A strict front end over Yams (jpsim/Yams: the YAML parser and its
/// `YAMLDecoder`): YAML in, Codable types out, with errors a person can act
/// on. Each names the file, the line (from Yams' node marks) and the field,
/// and unknown keys are errors rather than silently ignored (a misspelt
/// `repetitons:` must not fall back to a default).
public enum StrictYAML {
    /// Decodes `type` from `text`; `file` only names the source in errors.
    /// Throws `LabError(.invalidInput)` whose message is
    /// `FILE:LINE: FIELD: PROBLEM`.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String, file: String, userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> T {
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
            return try YAMLDecoder().decode(type, from: node, userInfo: userInfo)
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
        let field = CodingPathText.describe(path)
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

