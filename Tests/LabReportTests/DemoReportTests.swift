import Foundation
import LabModel
import Testing

@testable import LabReport

/// The demo's verdict comes from its steps and its control, and flips with them.
@Suite("demo records and handouts")
struct DemoReportTests {
    func step(_ number: Int, _ passed: Bool?) -> DemoStep {
        DemoStep(number: number, what: "step \(number)", command: "echo <\(number)>", expect: "x", inside: "in & out", host: "host", passed: passed)
    }

    func record(steps: [DemoStep], control: DemoStep?) -> DemoRecord {
        DemoRecord(name: "pid", title: "PID", claim: "claim", steps: steps, control: control,
                   verdict: DemoRecord.verdict(steps: steps, control: control), evidence: ["k": "v"],
                   chart: DemoChart(title: "chart", unit: "ms", bars: [.init(label: "a", value: 1), .init(label: "b", value: 3)]),
                   seconds: 0.5, host: "h")
    }

    @Test func theVerdictFlipsWithAStepAndWithTheControl() {
        let control = step(0, true)
        #expect(DemoRecord.verdict(steps: [step(1, true), step(2, nil)], control: control).pass)
        let failed = DemoRecord.verdict(steps: [step(1, true), step(2, false)], control: control)
        #expect(!failed.pass && failed.reason.contains("step 2"))
        let blind = DemoRecord.verdict(steps: [step(1, true)], control: step(0, false))
        #expect(!blind.pass && blind.reason.contains("control"))
    }

    @Test func theTextShowsEveryStepTheControlAndTheVerdict() {
        let text = DemoReport.text(record(steps: [step(1, true), step(2, false)], control: step(0, true)))
        #expect(text.contains("1. step 1\n   $ echo <1>\n"))
        #expect(text.contains("-> NOT AS EXPECTED"))
        #expect(text.contains("Control. step 0"))
        #expect(text.contains("FAIL: step 2 did not see what was expected"))
    }

    @Test func theHandoutIsEscapedSelfContainedAndHasItsChart() {
        let html = DemoReport.html([record(steps: [step(1, true)], control: step(0, true))])
        #expect(html.contains("echo &lt;1&gt;") && html.contains("in &amp; out"))
        #expect(html.contains("<svg") && html.contains("PASS"))
        let outside = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!outside.contains("<script") && !outside.contains("http:") && !outside.contains("src="))
    }

    @Test func theRecordRoundTripsThroughJSON() throws {
        let original = record(steps: [step(1, true)], control: step(0, true))
        let decoded = try JSONDecoder().decode(DemoRecord.self, from: try JSONEncoder().encode(original))
        #expect(decoded == original)
    }
}
