import Foundation
import Testing

/// Every command names itself. Without `commandName`, argument-parser
/// derives the name from the type's name through `String(describing:)`, a
/// runtime type-name lookup that cost `isolab --version` about 1 ms per
/// unnamed command (the whole tree is built on every start).
@Test func everyCommandConfigurationNamesItsCommand() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let directories = ["Sources/LabCommands", "Benchmarks/WholeProcess"].map { root.appendingPathComponent($0).path }
    var checked = 0
    for directory in directories {
        guard let files = FileManager.default.enumerator(atPath: directory) else { continue }
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            var rest = text[...]
            while let call = rest.range(of: "CommandConfiguration(") {
                // The arguments up to the first label after the name: commandName comes first.
                let head = rest[call.upperBound...].prefix(200).drop { $0 == " " || $0 == "\n" }
                #expect(head.hasPrefix("commandName:"), "\(file): a CommandConfiguration without commandName")
                checked += 1
                rest = rest[call.upperBound...]
            }
        }
    }
    #expect(checked >= 15)
}
