import CSV
import Foundation
import LabCore
import LabStats
import Testing

@testable import LabReport
@testable import LabRunner

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

@Suite("reports from a committed results.json")
struct ReportTests {
    func fixture() throws -> RunResults { try RunResults.load(file: fixtures + "/results.json") }

    @Test func reRenderingGivesTheGoldenFiles() throws {
        let results = try fixture()
        #expect(try CSVReport.samples(results) == FileSystem.readText(fixtures + "/golden/samples.csv"))
        #expect(try CSVReport.summary(results) == FileSystem.readText(fixtures + "/golden/summary.csv"))
        #expect(HTMLReport.render(results) == (try FileSystem.readText(fixtures + "/golden/report.html")))
    }

    @Test func csvParsesAndAgreesWithTheJSON() throws {
        let results = try fixture()
        let reader = try CSVReader(string: try CSVReport.samples(results), hasHeaderRow: true)
        var rows = 0
        while let row = reader.next() {
            guard let header = reader.headerRow else { break }
            let field = Dictionary(uniqueKeysWithValues: zip(header, row))
            guard let index = Int(field["trial"] ?? ""), let trial = results.trials.first(where: { $0.index == index }) else {
                Issue.record("row without its trial: \(row)")
                continue
            }
            #expect(field["backend"] == trial.backend.rawValue)
            if let value = Double(field["value"] ?? "") {
                let sample = trial.samples.first { $0.workload == field["workload"] && $0.metric == field["metric"] }
                #expect(sample.map { abs($0.value - value) <= abs($0.value) * 1e-5 } == true)
            }
            rows += 1
        }
        #expect(rows == results.trials.map { max($0.samples.count, $0.error == nil ? 0 : 1) }.reduce(0, +))
    }

    @Test func htmlIsSelfContainedWithEveryChartAndTheClaims() throws {
        let html = HTMLReport.render(try fixture())
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)
        #expect(html.contains("<table id=\"claims\">"))
        for claim in ["starts in seconds", "host's kernel", "lighter", "hardware directly", "Namespaces", "cgroups limit"] {
            #expect(html.contains(claim), "claim missing: \(claim)")
        }
        let outside = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!outside.contains("http:") && !outside.contains("https:") && !outside.contains("src=") && !outside.contains("<link")
                && !outside.contains("<script") && !outside.contains("@import"))
    }

    @Test func anotherSchemaVersionIsRefused() throws {
        let path = NSTemporaryDirectory() + "isolab-schema-\(getpid()).json"
        defer { unlink(path) }
        try FileSystem.writeAtomically(path, text: "{\"schema_version\": 99}")
        do {
            _ = try RunResults.load(file: path)
            Issue.record("accepted schema 99")
        } catch let error as LabError {
            #expect(error.code == .invalidInput && error.message.contains("schema_version 99; this lab reads 1"))
        }
    }

    @Test func compareSaysWhatIsBeyondNoise() throws {
        let a = try fixture()
        var b = a
        b.summary.metrics = a.summary.metrics.map { metric in
            var changed = metric
            if metric.backend == .vm && metric.metric == "ready" {
                changed.summary.median *= 2
                changed.medianInterval = metric.medianInterval.map { Interval(lower: $0.lower * 2, upper: $0.upper * 2, level: $0.level) }
            }
            return changed
        }
        let text = Compare.render(a, b)
        let vmLine = text.split(separator: "\n").first { $0.hasPrefix("vm") && $0.contains("startup.ready") }
        #expect(vmLine?.contains("+100.0 %") == true && vmLine?.contains("beyond noise") == true)
        let bareLine = text.split(separator: "\n").first { $0.hasPrefix("bare") && $0.contains("startup.ready") }
        #expect(bareLine?.contains("within noise") == true)
    }

    @Test func claimsOfTheFixture() throws {
        let claims = Claims.evaluate(try fixture())
        #expect(claims.count == 6)
        #expect(claims[1].verdict == .holds)  // kernels
        #expect(claims[3].verdict == .notMeasured)  // no cpu/memory workload in quick.yaml
    }
}

@Suite("scenarios")
struct ScenarioTests {
    let scenarios = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scenarios").path

    @Test(arguments: ["startup.yaml", "overhead.yaml", "quick.yaml"])
    func shippedScenarioParses(_ name: String) throws {
        let (scenario, _) = try Scenario.load(file: scenarios + "/" + name)
        #expect(scenario.name + ".yaml" == name)
        #expect(!scenario.backends.isEmpty && scenario.repetitions >= 1)
    }

    func expectError(_ yaml: String, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try StrictYAML.decode(Scenario.self, from: yaml, file: "s.yaml")
            Issue.record("accepted: \(yaml)", sourceLocation: sourceLocation)
        } catch let error as LabError {
            #expect(error.code == .invalidInput, sourceLocation: sourceLocation)
            for text in expected { #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func brokenScenariosNameFileFieldLineAndAcceptedValues() {
        expectError("name: s\nbackends: [bare, docker]\n", ["s.yaml:2:", "backends[1]", "unknown backend 'docker'; accepted: bare, container, vm"])
        expectError("name: s\nworkloads: [{name: cpuu}]\n", ["s.yaml:2:", "workloads[0].name", "accepted: noop, cpu"])
        expectError("name: s\nrepetitions: 0\n", ["s.yaml:2:", "repetitions", "must be at least 1"])
        expectError("name: s\nlimits: {memory: -5M}\n", ["s.yaml:2:", "limits.memory"])
        expectError("name: s\nlimits: {cpus: -1}\n", ["limits.cpus", "must be above 0"])
        expectError("name: s\nrepetitons: 3\n", ["s.yaml:2:", "unknown key 'repetitons'"])
        expectError("name: s\nvm: {accel: fast}\n", ["vm.accel", "accepted: auto, kvm, tcg"])
        expectError("name: s\nworkloads: [{name: cpu, params: {mib: 3}}]\n", ["workloads", "takes no --mib"])
        expectError("name: s\nimage: {name: x, base: alpine}\n", ["image.base", "accepted: busybox, empty"])
        expectError("name: s\nbackends: [\n", ["malformed YAML"])
    }

    @Test func agentArgumentsGiveEachWorkloadItsOwnParameters() throws {
        let scenario = try StrictYAML.decode(Scenario.self, from: """
            name: s
            workloads: [{name: cpu, params: {seconds: 1}}, {name: memory, params: {mib: 16}}]
            """, file: "s.yaml")
        #expect(scenario.agentArguments == ["cpu", "memory", "--cpu.seconds", "1", "--memory.mib", "16"])
    }

    @Test func planInterleavesBackendsInSeededShuffledRounds() {
        let plan = Runner.plan(backends: [.bare, .container, .vm], repetitions: 4, warmup: 1, seed: 42)
        #expect(plan.count == 15)
        #expect(plan.filter(\.warmup).count == 3)
        for round in 0..<5 {
            #expect(Set(plan.filter { $0.round == round }.map(\.backend)) == [.bare, .container, .vm])
        }
        #expect(plan == Runner.plan(backends: [.bare, .container, .vm], repetitions: 4, warmup: 1, seed: 42))
        let orders = Set((0..<5).map { round in plan.filter { $0.round == round }.map(\.backend.rawValue).joined(separator: ",") })
        #expect(orders.count > 1, "every round in the same order: not shuffled")
        #expect(plan != Runner.plan(backends: [.bare, .container, .vm], repetitions: 4, warmup: 1, seed: 7))
    }
}
