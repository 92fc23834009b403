import Foundation
import LabAnalysis
import LabModel
import LabStats
import LabTestSupport
import Testing

@testable import LabReport

@Suite("one source of truth")
struct SourceOfTruthTests {
    @Test func aSummaryEditedByHandIsRecomputedFromTheSamples() {
        var run = Synthetic()
        run.add(.container, "startup", "ready", around(15))
        run.add(.vm, "startup", "ready", around(4500))
        var results = run.results
        results.summary = RunResults.summarize(results.trials, backends: results.backends)
        #expect(results.summaryMatchesTrials)
        results.summary.metrics[0].summary.median = 99_999
        #expect(!results.summaryMatchesTrials)
        #expect(HTMLReport.render(results).contains("Container in 15.0 ms"))
        #expect(!HTMLReport.render(results).contains("99999"))
    }
}
