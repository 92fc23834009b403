/// The line protocol between `isolab-agent` and the lab, the same in every
/// backend (see docs/agent-protocol.md):
///
///     ISOLAB READY version=1 uptime_ns=... pid=... hostname=... kernel=... ...
///     ISOLAB RESULT {"workload":"cpu","params":{...},"metric":"sieve","value":...,"unit":"ops/s","duration_ns":...}
///     ISOLAB ERROR {"error":"...","workload":"...","accepted":[...]}
///     ISOLAB DONE exit=0
public enum AgentProtocol {
    /// Bumped whenever a line changes meaning; the host refuses other versions.
    public static let version = 1
    public static let prefix = "ISOLAB "

    /// `ISOLAB READY` with its fields in order. Values are percent-encoded
    /// where they hold a space, `%`, `=` or a control character.
    public static func ready(_ fields: [(String, String)]) -> String {
        var line = prefix + "READY version=\(version)"
        for (key, value) in fields {
            line += " \(key)=\(PercentEncoding.encodeField(value))"
        }
        return line + "\n"
    }

    public static func result(_ result: AgentResult) -> String {
        prefix + "RESULT " + result.json.encoded() + "\n"
    }

    public static func error(_ error: AgentError) -> String {
        prefix + "ERROR " + error.json.encoded() + "\n"
    }

    /// `ISOLAB BOOT {...}`: a whole-OS instance's boot as its init saw it
    /// (systemd's timestamps and slowest units), right after READY.
    public static func boot(_ fields: [(String, JSONValue)]) -> String {
        prefix + "BOOT " + JSONValue.object(fields).encoded() + "\n"
    }

    /// `ISOLAB OUTPUT stream=stdout data=...`: a chunk of what a program the
    /// agent runs (`isolab.exec=`, a VM's command) wrote, relayed over the
    /// one channel a guest has; its bytes percent-encoded.
    public static func output(stream: String, _ bytes: some Sequence<UInt8>) -> String {
        prefix + "OUTPUT stream=\(stream) data=" + PercentEncoding.encodeBytes(bytes) + "\n"
    }

    /// `ISOLAB DONE exit=N`, then optional `key=value` fields (`max_rss_kb`,
    /// the agent's own peak RSS: VmHWM of its image, not of what spawned it).
    public static func done(exit status: Int32, fields: [(String, String)] = []) -> String {
        prefix + "DONE exit=\(status)" + fields.map { " \($0.0)=\(PercentEncoding.encodeField($0.1))" }.joined() + "\n"
    }
}

/// One measured value of a workload.
public struct AgentResult: Sendable, Equatable, Codable {
    public var workload: String
    public var params: [String: String]
    public var metric: String
    public var value: Double
    public var unit: String
    /// The workload's own elapsed time (CLOCK_MONOTONIC), nanoseconds.
    public var durationNs: Int64

    public init(workload: String, params: [String: String], metric: String, value: Double, unit: String, durationNs: Int64) {
        self.workload = workload
        self.params = params
        self.metric = metric
        self.value = value
        self.unit = unit
        self.durationNs = durationNs
    }

    enum CodingKeys: String, CodingKey {
        case workload, params, metric, value, unit
        case durationNs = "duration_ns"
    }

    var json: JSONValue {
        .object([
            ("workload", .string(workload)),
            ("params", .object(params.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("metric", .string(metric)),
            ("value", .number(value)),
            ("unit", .string(unit)),
            ("duration_ns", .integer(durationNs)),
        ])
    }
}

/// Anything that failed in the agent: reported as `ISOLAB ERROR`, then a
/// non-zero exit (2 for bad input, 1 for a failed workload).
public struct AgentError: Error, Sendable, Equatable, Codable {
    public var error: String
    public var workload: String?
    /// The accepted values, when the error is about one that was not.
    public var accepted: [String]?
    public var exitStatus: Int32

    public init(_ error: String, workload: String? = nil, accepted: [String]? = nil, exitStatus: Int32 = 1) {
        self.error = error
        self.workload = workload
        self.accepted = accepted
        self.exitStatus = exitStatus
    }

    public static func badInput(_ message: String, workload: String? = nil, accepted: [String]? = nil) -> AgentError {
        AgentError(message, workload: workload, accepted: accepted, exitStatus: 2)
    }

    enum CodingKeys: String, CodingKey {
        case error, workload, accepted
        case exitStatus = "exit"
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [("error", .string(error))]
        if let workload { members.append(("workload", .string(workload))) }
        if let accepted { members.append(("accepted", .array(accepted.map { .string($0) }))) }
        members.append(("exit", .integer(Int64(exitStatus))))
        return .object(members)
    }
}

/// A protocol line as the host reads it.
public enum AgentLine: Sendable, Equatable {
    case ready([String: String])
    /// The JSON text of a RESULT (decode it with `AgentResult`'s Codable).
    case result(String)
    case error(String)
    /// The JSON text of a BOOT line (a whole-OS instance's systemd timing).
    case boot(String)
    /// A chunk of a program's stdout or stderr (`stream`), relayed by the agent.
    case output(stream: String, data: [UInt8])
    case done(exit: Int32)

    /// The optional fields of the DONE line in a text (`max_rss_kb`), if any.
    public static func doneFields(_ text: String) -> [String: String] {
        for line in text.split(whereSeparator: \.isNewline) {
            guard let start = line.range(of: AgentProtocol.prefix + "DONE ") else { continue }
            var fields: [String: String] = [:]
            for token in line[start.upperBound...].split(separator: " ") {
                guard let eq = token.firstIndex(of: "=") else { continue }
                let value = token[token.index(after: eq)...]
                fields[String(token[..<eq])] = (try? PercentEncoding.decode(value)) ?? String(value)
            }
            return fields
        }
        return [:]
    }

    /// Every protocol line in a text, in order. Lines are split on any
    /// newline: a serial console ends them with "\r\n", which Swift treats
    /// as one Character, so splitting on "\n" alone would not split them.
    public static func parseAll(_ text: String) -> [AgentLine] {
        text.split(whereSeparator: \.isNewline).compactMap { parse($0) }
    }

    /// Parses one line (without its newline; a trailing `\r` from a serial
    /// console is ignored). Lines that are not the protocol's are nil.
    public static func parse(_ raw: Substring) -> AgentLine? {
        var line = raw
        while line.last == "\r" || line.last == "\n" { line = line.dropLast() }
        // A serial console may put kernel output before the marker on the same line.
        guard let start = line.range(of: AgentProtocol.prefix) else { return nil }
        let rest = line[start.upperBound...]
        if rest.hasPrefix("READY") {
            var fields: [String: String] = [:]
            for token in rest.dropFirst("READY".count).split(separator: " ") {
                guard let eq = token.firstIndex(of: "=") else { continue }
                let value = token[token.index(after: eq)...]
                fields[String(token[..<eq])] = (try? PercentEncoding.decode(value)) ?? String(value)
            }
            return .ready(fields)
        }
        if rest.hasPrefix("RESULT ") { return .result(String(rest.dropFirst("RESULT ".count))) }
        if rest.hasPrefix("ERROR ") { return .error(String(rest.dropFirst("ERROR ".count))) }
        if rest.hasPrefix("BOOT ") { return .boot(String(rest.dropFirst("BOOT ".count))) }
        if rest.hasPrefix("OUTPUT stream=") {
            let fields = rest.dropFirst("OUTPUT stream=".count).split(separator: " ", maxSplits: 1)
            guard fields.count == 2, fields[1].hasPrefix("data="), let data = try? PercentEncoding.decodeBytes(fields[1].dropFirst(5)) else { return nil }
            return .output(stream: String(fields[0]), data: data)
        }
        if rest.hasPrefix("DONE exit="),
           let status = Int32(rest.dropFirst("DONE exit=".count).prefix { $0 != " " }) {
            return .done(exit: status)
        }
        return nil
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        let n = needle.utf8.count
        var index = startIndex
        while index < endIndex {
            if self[index...].utf8.starts(with: needle.utf8) {
                return index..<self.utf8.index(index, offsetBy: n)
            }
            index = self.index(after: index)
        }
        return nil
    }
}
