import Foundation
import LabModel
import LabStats

extension RunResults {
    /// The same results with the summary computed afresh from the trials'
    /// samples: every report renders this, so the stored summary is only a
    /// cache, and a results.json whose summary was edited (or is stale)
    /// cannot show figures that disagree with its samples.
    public func summarizedFromTrials() -> RunResults {
        if summaryIsFromTrials { return self }
        var copy = self
        copy.summary = RunResults.summarize(trials, backends: backends)
        copy.summaryIsFromTrials = true
        return copy
    }

    /// Whether the stored summary is the one the trials give.
    public var summaryMatchesTrials: Bool { hasSameSummary(as: summarizedFromTrials()) }

    /// Whether two results carry the same summary, value for value.
    public func hasSameSummary(as other: RunResults) -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let mine = try? encoder.encode(summary), theirs = try? encoder.encode(other.summary)
        return mine != nil && mine == theirs
    }
}
