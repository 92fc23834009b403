import Foundation
import LabModel
import LabStats

/// The noisy-neighbour analysis: a victim's rates beside a neighbour over
/// its rates alone (every victim metric of the cpu and memory workloads is
/// a rate, so below 1 is a slowdown).
public enum Neighbours {
    /// Undisturbed: within ±10 % of the rate alone. Stated before any run,
    /// never fitted to one.
    public static let band = 0.9...1.1

    /// The ratio and its exact 95 % interval, for the tables.
    public static func interval(_ beside: [Double], _ alone: [Double]) -> (Double, Interval?)? {
        guard let ratio = Exact.ratio(beside, alone) else { return nil }
        return (ratio.ratio, ratio.interval())
    }

    public static func ratio(_ beside: [Double], _ alone: [Double]) -> String {
        guard let (ratio, interval) = interval(beside, alone) else { return "-" }
        return Format.interval(ratio, interval)
    }

    /// What a CPU-bound victim sharing one CPU with the limited neighbour
    /// should keep, from the limits alone: its weight's share (the victim
    /// has the default 100), or what the quota leaves, whichever is more.
    /// nil in results that did not record the limits as numbers.
    public static func expectedShare(_ run: NeighbourRun) -> Double? {
        guard let weight = run.limitedCPUWeight else { return nil }
        let byWeight = 100 / Double(100 + weight)
        let byQuota = run.limitedCPUs.map { 1 - min($0, 1) } ?? 0
        return max(byWeight, byQuota)
    }

    /// One condition's victim metrics against the band.
    public struct Judgement: Sendable {
        public var inside: [String] = []
        public var below: [String] = []
        /// Shown faster beside the neighbour than alone: not a disturbance,
        /// and not "undisturbed" either (the runs alone drifted).
        public var above: [String] = []
        public var undecided: [String] = []
        public var tooFew: [String] = []
        /// `memory.sustained 0.91 × [90.5 % CI 0.85–0.97]`, the lowest ratio first.
        public var worst = "-"

        public var allInside: Bool { !inside.isEmpty && below.isEmpty && above.isEmpty && undecided.isEmpty && tooFew.isEmpty }

        public var summary: String {
            var parts: [String] = []
            if !inside.isEmpty { parts.append("\(inside.count) inside the band") }
            if !below.isEmpty { parts.append("\(below.count) below it") }
            if !above.isEmpty { parts.append("\(above.count) above it") }
            if !undecided.isEmpty { parts.append("\(undecided.count) undecided") }
            if !tooFew.isEmpty { parts.append("\(tooFew.count) with too few runs") }
            return parts.joined(separator: ", ") + "; the slowest \(worst)"
        }

        func undecidedReason(_ band: String) -> String {
            if !tooFew.isEmpty {
                return "too few victim runs for a 90 % interval (\(tooFew.joined(separator: ", ")); needs \(Exact.minimumPerGroup(level: 0.9)) a condition)"
            }
            var parts: [String] = []
            if !above.isEmpty { parts.append("shown above \(band), faster than alone: \(above.joined(separator: ", "))") }
            if !undecided.isEmpty { parts.append("neither inside \(band) nor below it: \(undecided.joined(separator: ", "))") }
            return "the victim's interval is " + parts.joined(separator: "; ")
        }
    }

    public static func judge(_ run: NeighbourRun, _ pick: (NeighbourRun.Metric) -> [Double]) -> Judgement {
        var judgement = Judgement()
        var belowP: [(String, Double)] = []
        var lowest: (Double, String)?
        for metric in run.metrics {
            let name = metric.workload + "." + metric.metric
            guard let ratio = Exact.ratio(pick(metric), metric.alone) else {
                judgement.tooFew.append(name)
                continue
            }
            if lowest.map({ ratio.ratio < $0.0 }) ?? true {
                lowest = (ratio.ratio, name + " " + Format.interval(ratio.ratio, ratio.interval(level: 0.9)))
            }
            switch Exact.equivalence(ratio, band: band) {
            case .inside: judgement.inside.append(name)
            case .tooFew: judgement.tooFew.append(name)
            case .above: judgement.above.append(name)
            case .below, .undecided: belowP.append((name, ratio.pBelow(band.lowerBound)))
            }
        }
        let (rejected, _) = Exact.holm(belowP.map(\.1))
        for (index, (name, _)) in belowP.enumerated() {
            if rejected[index] { judgement.below.append(name) } else { judgement.undecided.append(name) }
        }
        judgement.worst = lowest?.1 ?? "-"
        return judgement
    }
}
