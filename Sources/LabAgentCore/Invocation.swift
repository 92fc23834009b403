/// A parameter a workload accepts, with its default and its check.
public struct ParameterSpec: Sendable {
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        case seconds(ClosedRange<Double>)
        case path
        /// Any text of at most 256 bytes without NUL.
        case text
    }
    public var name: String
    public var kind: Kind
    /// nil: the workload does a fixed amount of work instead.
    public var defaultValue: String?
    public var help: String

    func check(_ value: String, workload: String) throws(AgentError) {
        switch kind {
        case .integer(let range):
            guard let number = Int(value), range.contains(number) else {
                throw .badInput("--\(name) \(value) is not an integer in \(range.lowerBound)...\(range.upperBound)", workload: workload)
            }
        case .seconds(let range):
            guard let number = Double(value), number.isFinite, range.contains(number) else {
                throw .badInput("--\(name) \(value) is not a number of seconds in \(range.lowerBound)...\(range.upperBound)", workload: workload)
            }
        case .path:
            guard value.hasPrefix("/"), !value.contains("\0") else {
                throw .badInput("--\(name) \(value) is not an absolute path", workload: workload)
            }
        case .text:
            guard value.utf8.count <= 256, !value.contains("\0") else {
                throw .badInput("--\(name) is longer than 256 bytes", workload: workload)
            }
        }
    }
}

/// One workload with the parameters it will run with.
public struct WorkloadRun: Sendable, Equatable {
    public var name: String
    /// Every parameter the workload takes, given or defaulted.
    public var params: [String: String]

    public func int(_ key: String) -> Int? { params[key].flatMap { Int($0) } }
    public func seconds(_ key: String = "seconds") -> Double? { params[key].flatMap { Double($0) } }
}

/// `isolab-agent run WORKLOAD... [--param value]...`: parameters are shared by
/// every workload of the invocation that accepts them; `--WORKLOAD.param
/// value` sets one workload's alone and wins over the shared one. A parameter
/// that no named workload accepts is an error.
public enum Invocation {
    public static func parse(_ arguments: [String]) throws(AgentError) -> [WorkloadRun] {
        var names: [String] = []
        var shared: [String: String] = [:]
        var specific: [String: [String: String]] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") {
                let key = String(argument.dropFirst(2))
                guard !key.isEmpty else { throw .badInput("empty option '--'") }
                guard index + 1 < arguments.count else { throw .badInput("option --\(key) needs a value") }
                let value = arguments[index + 1]
                if let dot = key.firstIndex(of: ".") {
                    specific[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = value
                } else {
                    shared[key] = value
                }
                index += 2
            } else {
                guard let _ = WorkloadCatalog.spec(argument) else {
                    throw .badInput("unknown workload '\(argument)'", workload: argument, accepted: WorkloadCatalog.names)
                }
                names.append(argument)
                index += 1
            }
        }
        guard !names.isEmpty else {
            throw .badInput("no workload given", accepted: WorkloadCatalog.names)
        }
        for (workload, params) in specific {
            guard let spec = WorkloadCatalog.spec(workload), names.contains(workload) else {
                throw .badInput("--\(workload).\(params.keys.sorted()[0]) names a workload that is not run", accepted: names)
            }
            for key in params.keys where !spec.parameters.contains(where: { $0.name == key }) {
                throw .badInput("workload \(workload) takes no --\(key)", workload: workload,
                                accepted: spec.parameters.map { "--" + $0.name })
            }
        }
        for key in shared.keys.sorted() {
            let takers = names.compactMap(WorkloadCatalog.spec).filter { $0.parameters.contains { $0.name == key } }
            guard !takers.isEmpty else {
                let accepted = Set(names.compactMap(WorkloadCatalog.spec).flatMap { $0.parameters.map { "--" + $0.name } })
                throw .badInput("no workload of \(names.joined(separator: ", ")) takes --\(key)", accepted: accepted.sorted())
            }
        }
        var runs: [WorkloadRun] = []
        for name in names {
            let spec = WorkloadCatalog.spec(name)!
            var params: [String: String] = [:]
            for parameter in spec.parameters {
                if let value = specific[name]?[parameter.name] ?? shared[parameter.name] ?? parameter.defaultValue {
                    try parameter.check(value, workload: name)
                    params[parameter.name] = value
                }
            }
            runs.append(WorkloadRun(name: name, params: params))
        }
        return runs
    }
}
