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
