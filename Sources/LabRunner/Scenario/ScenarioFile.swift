import LabWire
import LabCore
import LabModel

extension Scenario {
    /// Reads and checks a scenario file: strict YAML (errors name the file,
    /// the line and the field), every range, and the workloads against the
    /// agent's own catalogue, so that a mistake is reported now, not after a boot.
    public static func load(file path: String) throws -> (scenario: Scenario, text: String) {
        let text: String
        do {
            text = try FileSystem.readText(path)
        } catch let error as LabError {
            throw LabError(.invalidInput, "\(path): cannot read: \(error.message)")
        }
        return (try parse(text, file: path), text)
    }

    /// The same, from text; `file` only names it in errors.
    public static func parse(_ text: String, file: String) throws -> Scenario {
        let check: WorkloadCheck = { arguments in
            do {
                _ = try Invocation.parse(arguments)
            } catch let error as AgentError {
                throw LabError(.invalidInput, error.error + (error.accepted.map { "; accepted: " + $0.joined(separator: ", ") } ?? ""))
            }
        }
        return try StrictYAML.decode(Scenario.self, from: text, file: file, userInfo: [Scenario.workloadCheckKey: check])
    }
}
