import Foundation
import Testing

/// The package's own target graph, read from Package.swift: each target's
/// name and the lab targets it names as dependencies, in declaration order.
func packageTargets() throws -> [(name: String, dependencies: [String])] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let text = try String(contentsOfFile: root.appendingPathComponent("Package.swift").path, encoding: .utf8)
    let body = String(text[text.range(of: "targets: [")!.upperBound...])
    var targets: [(String, [String])] = []
    // Each `.target(`, `.executableTarget(`, `.testTarget(` or `.systemLibrary(` up to the next one.
    let pattern = try NSRegularExpression(pattern: #"\.(target|executableTarget|testTarget|systemLibrary)\(\s*name: "([^"]+)""#)
    let matches = pattern.matches(in: body, range: NSRange(body.startIndex..., in: body))
    for (index, match) in matches.enumerated() {
        let name = String(body[Range(match.range(at: 2), in: body)!])
        let end = index + 1 < matches.count ? Range(matches[index + 1].range, in: body)!.lowerBound : body.endIndex
        let chunk = body[Range(match.range, in: body)!.upperBound..<end]
        var dependencies: [String] = []
        if let open = chunk.range(of: "dependencies: [") {
            var depth = 1
            var cursor = open.upperBound
            while depth > 0, cursor < chunk.endIndex {
                if chunk[cursor] == "[" { depth += 1 } else if chunk[cursor] == "]" { depth -= 1 }
                cursor = chunk.index(after: cursor)
            }
            let list = String(chunk[open.upperBound..<cursor])
            // Only the bare names: products name their package, which is not a target.
            let names = try NSRegularExpression(pattern: #"(?<![:\w])\s*"([A-Za-z][\w-]*)""#)
            for found in names.matches(in: list, range: NSRange(list.startIndex..., in: list)) {
                let before = list[..<Range(found.range, in: list)!.lowerBound]
                if before.hasSuffix("name: ") || before.hasSuffix("package: ") { continue }
                dependencies.append(String(list[Range(found.range(at: 1), in: list)!]))
            }
        }
        targets.append((name, dependencies))
    }
    return targets
}

func closure(of target: String, in graph: [String: [String]]) -> Set<String> {
    var seen = Set<String>()
    var queue = [target]
    while let next = queue.popLast() {
        for dependency in graph[next] ?? [] where seen.insert(dependency).inserted { queue.append(dependency) }
    }
    return seen
}

@Suite("package graph (Package.swift)")
struct DependencyGraphTests {
    @Test func reportsAndTheirTestsLinkNoBackend() throws {
        let graph = Dictionary(uniqueKeysWithValues: try packageTargets().map { ($0.name, $0.dependencies) })
        let backends: Set = ["LabRunner", "LabContainer", "LabVirt", "LabDoctor", "CLibvirt", "CLibcap", "CLabSpawn", "LabImage", "LabCore"]
        for target in ["LabReport", "LabReportTests"] {
            let reached = closure(of: target, in: graph)
            #expect(reached.contains("LabModel") && reached.contains("LabStats"), "\(target): \(reached.sorted())")
            #expect(reached.isDisjoint(with: backends), "\(target) reaches \(reached.intersection(backends).sorted())")
        }
        #expect(graph["LabModel"] == [], "the models depend on nothing of the lab's")
    }

    /// The registry client (async-http-client, SwiftNIO, BoringSSL) made a
    /// static `isolab` 57 MB larger and every command's start 1.43 x as long:
    /// only `isolab-registry` links it, and `isolab` execs that for pull and push.
    @Test func onlyTheRegistryHelperLinksTheRegistryClient() throws {
        let graph = Dictionary(uniqueKeysWithValues: try packageTargets().map { ($0.name, $0.dependencies) })
        let client: Set = ["LabRegistry", "CLibcrypto"]
        for target in ["isolab", "LabCommands", "LabRunner", "isolab-bench"] {
            let reached = closure(of: target, in: graph)
            #expect(reached.isDisjoint(with: client), "\(target) reaches \(reached.intersection(client).sorted())")
        }
        #expect(closure(of: "isolab-registry", in: graph).isSuperset(of: client.union(["LabCommands"])))
    }

    /// Every target names only targets declared before it: the graph reads
    /// one way, top to bottom, with no back-edge (and no cycle).
    @Test func theGraphReadsOneWay() throws {
        let targets = try packageTargets()
        #expect(targets.count > 20)
        var declared = Set<String>()
        for target in targets {
            for dependency in target.dependencies {
                #expect(declared.contains(dependency), "\(target.name) depends on \(dependency), declared after it")
            }
            declared.insert(target.name)
        }
    }
}

/// Every target's imports against its declared dependencies, from
/// `swift package dump-package` (the package's own reading of Package.swift)
/// and the `import` lines of its sources: an import of a lab target or a
/// package product the target does not declare would build only by luck
/// (through another target's module path), and a declared dependency no
/// source imports is a dead edge of the graph.
@Suite("package graph (imports)")
struct ImportGraphTests {
    /// Modules of the toolchain and the system: imported freely.
    static let system: Set<String> = ["Foundation", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Testing", "XCTest",
                                      "Synchronization", "_Concurrency", "CoreFoundation", "FoundationXML", "FoundationNetworking"]

    struct Target {
        var name: String
        var directory: String
        var declared: Set<String>
        var isSwift: Bool
    }

    static func targets() throws -> [Target] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let swift = ["/opt/swift/usr/bin/swift", "/usr/bin/swift"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "swift"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: swift)
        // A scratch path of its own: `swift test` holds the package's build
        // directory locked, and dump-package would wait for it forever.
        let scratch = NSTemporaryDirectory() + "isolab-dump-package-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        process.arguments = ["package", "dump-package", "--package-path", root, "--scratch-path", scratch]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entries = try #require(json["targets"] as? [[String: Any]])
        return entries.compactMap { entry in
            guard let name = entry["name"] as? String, let type = entry["type"] as? String, type != "system", type != "plugin" else { return nil }
            let base = type == "test" ? "Tests" : "Sources"
            let directory = root + "/" + ((entry["path"] as? String) ?? "\(base)/\(name)")
            var declared = Set<String>()
            for dependency in entry["dependencies"] as? [[String: Any]] ?? [] {
                for (_, value) in dependency {
                    if let list = value as? [Any], let first = list.first as? String { declared.insert(first) }
                }
            }
            let isSwift = (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []).contains { $0.hasSuffix(".swift") }
            return Target(name: name, directory: directory, declared: declared, isSwift: isSwift)
        }
    }

    /// The modules `import`ed by the Swift files under `directory`.
    static func imports(in directory: String) throws -> Set<String> {
        var found = Set<String>()
        let pattern = try NSRegularExpression(pattern: #"^\s*(?:@testable\s+|@_exported\s+|@preconcurrency\s+)?import\s+(?:(?:struct|class|enum|func|protocol)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#, options: .anchorsMatchLines)
        for file in FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? [] where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                found.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return found.subtracting(system)
    }

    @Test func everyImportIsDeclaredAndEveryDeclaredDependencyImported() throws {
        let targets = try Self.targets()
        #expect(targets.count > 20)
        // C targets and system libraries are linked for their symbols; a
        // target that declares one imports it, except where it only links.
        let linkOnly: Set<String> = ["CAgentInit"]
        for target in targets where target.isSwift {
            let imported = try Self.imports(in: target.directory)
            let undeclared = imported.subtracting(target.declared).subtracting([target.name])
            #expect(undeclared.isEmpty, "\(target.name) imports \(undeclared.sorted()) without declaring them")
            let unused = target.declared.subtracting(imported).subtracting(linkOnly)
            #expect(unused.isEmpty, "\(target.name) declares \(unused.sorted()) but imports none of them")
        }
    }
}
