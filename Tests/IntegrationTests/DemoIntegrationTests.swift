import Foundation
import LabCore
import LabModel
import LabReport
import LabRunner
import Testing

/// Every demo passes on this host, and fails when the feature it shows is
/// taken away (a demo that cannot fail is a defect). One at a time: the
/// cpu-share demo measures CPU shares that a neighbour would disturb.
@Suite("Integration (root, this host): the teaching demos", .needsRoot, .needsLibvirt, .serialized)
struct DemoIntegrationTests {
    static let withoutVM = Demos.list.filter { !$0.needsVM }.map(\.name)
    static let withVM = Demos.list.filter(\.needsVM).map(\.name)

    func run(_ name: String, without: Bool = false) async throws -> DemoRecord {
        var options = DemoOptions()
        options.without = without
        return try await Demos.run(name, options: options)
    }

    func explain(_ record: DemoRecord) -> String { DemoReport.text(record) }

    @Test(arguments: withoutVM)
    func passesHere(_ name: String) async throws {
        let record = try await run(name)
        #expect(record.verdict.pass, "\(explain(record))")
        #expect(record.steps.count >= 2 && record.control != nil, "a demo has steps and a control")
        let leaked = try leakedByDeadLabs()
        #expect(leaked.isEmpty, "\(leaked)")
    }

    @Test(arguments: withoutVM)
    func failsWithoutTheFeatureItShows(_ name: String) async throws {
        let record = try await run(name, without: true)
        #expect(!record.verdict.pass, "\(name) passed without \(record.without ?? "?"): it cannot fail\n\(explain(record))")
        #expect(record.without != nil)
        let leaked = try leakedByDeadLabs()
        #expect(leaked.isEmpty, "\(leaked)")
    }

    @Test(arguments: withVM)
    func vmDemosPassAndFailWithoutTheVM(_ name: String) async throws {
        let record = try await run(name)
        #expect(record.verdict.pass, "\(explain(record))")
        #expect(record.accelerator != nil)
        let without = try await run(name, without: true)
        #expect(!without.verdict.pass, "\(explain(without))")
        #expect(try await labDomains().isEmpty)
    }
}

@Suite("Integration (root, this host): isolab demo", .needsRoot)
struct DemoCommandIntegrationTests {
    @Test func listNamesEveryDemo() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["demo", "list"])
        #expect(output.status == 0)
        for name in Demos.names { #expect(output.stdout.contains(name + " ")) }
    }

    @Test func anUnknownDemoIsOneLineExitTwo() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["demo", "pdi"])
        #expect(output.status == 2)
        #expect(output.stderr == "isolab: no demo named 'pdi'; accepted: list, all, \(Demos.names.joined(separator: ", "))\n")
    }

    @Test func jsonIsTheRecordAndTheExitIsTheVerdict() throws {
        let output = try HostCommand.run(try isolabExecutable(), ["demo", "uts", "--json"], timeout: 60)
        #expect(output.status == 0, "\(output.stderr)")
        let record = try JSONDecoder().decode(DemoRecord.self, from: Data(output.stdout.utf8))
        #expect(record.name == "uts" && record.verdict.pass && record.steps.count == 2)
    }

    @Test func sigintLeavesNothingBehind() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try isolabExecutable())
        process.arguments = ["demo", "cpu-share"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Once its first busy container runs.
        let before = Set(leftoverCgroups())
        _ = try #require(containerOwned(by: process.processIdentifier, timeout: 60), "the demo started no container")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGINT)
        let left = Set(leftoverCgroups()).subtracting(before)
        #expect(left.isEmpty, "\(left)")
        let leaked = try leakedByDeadLabs()
        #expect(leaked.isEmpty, "\(leaked)")
    }

    /// A teacher projects the handout and the report: both must render in a
    /// real browser, charts with a size, nothing fetched, no console error.
    @Test(.needsChromium) func theHandoutAndAReportRenderInChromium() throws {
        let home = try TemporaryHome()
        let handout = home.path + "/handout.html"
        let demo = try HostCommand.run(try isolabExecutable(), ["demo", "layers", "--html", handout], timeout: 120)
        #expect(demo.status == 0, "\(demo.stdout)\(demo.stderr)")
        let report = packageRoot + "/reports/sample/report.html"
        let browser = try HeadlessBrowser()
        // Each chart's drawn size, and the tables' rows, by the browser's own layout.
        let probe = """
            JSON.stringify({
              charts: Array.from(document.querySelectorAll('svg')).map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; }),
              claims: document.querySelectorAll('#claims tr').length,
              steps: document.querySelectorAll('table.steps tr').length,
              title: document.title })
            """
        for (page, isReport) in [(handout, false), (report, true)] {
            let shot = home.path + "/" + (isReport ? "report" : "handout") + ".png"
            let result = try browser.check(file: page, probe: probe, screenshot: shot)
            let facts = try JSONSerialization.jsonObject(with: Data((result.probe as? String ?? "{}").utf8)) as? [String: Any] ?? [:]
            let charts = facts["charts"] as? [[Double]] ?? []
            #expect(!charts.isEmpty, "\(page): no chart")
            #expect(charts.allSatisfy { $0.count == 2 && $0[0] > 0 && $0[1] > 0 }, "\(page): a chart has no size: \(charts)")
            if isReport {
                #expect((facts["claims"] as? Int ?? 0) > 10, "\(page): the claims table is missing: \(facts)")
            } else {
                #expect((facts["steps"] as? Int ?? 0) >= 3, "\(page): the steps are missing: \(facts)")
            }
            #expect(result.consoleErrors.isEmpty, "\(page): \(result.consoleErrors)")
            #expect(result.requests.isEmpty, "\(page) fetched \(result.requests)")
            #expect(result.screenshotBytes > 10_000, "\(page): the screenshot is \(result.screenshotBytes) bytes")
        }
    }
}
