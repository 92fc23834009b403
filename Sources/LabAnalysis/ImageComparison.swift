import Foundation
import LabModel
import LabStats

/// A scenario run once per image (`images:`), set side by side: per image
/// and backend the start-up (launch to READY) and the disk, paid once and
/// per instance; per image, how much more disk a VM adds per instance than
/// a container, with its exact interval. Computed from each run's counted
/// trials only (warm-ups and failed trials left out).
public struct ImageComparison: Codable, Sendable, Equatable {
    public struct Row: Codable, Sendable, Equatable {
        public var image: String
        public var digest: String
        public var backend: BackendKind
        public var trials: Int
        public var readyMs: Double?
        /// The median's exact interval (nil below six trials).
        public var readyInterval: Interval?
        /// What every instance of the image shares (layers or tree; the VM's kernel, initramfs and disk), MiB.
        public var diskImageMiB: Double?
        /// What one instance adds (the container's upper directory; the guest's qcow2 overlay and console), KiB.
        public var diskInstanceKiB: Double?
    }

    /// Per image: the VM's per-instance disk over the container's.
    public struct DiskRatio: Codable, Sendable, Equatable {
        public var image: String
        public var ratio: Double?
        public var interval: Interval?
        /// `holds`, `does not hold`, or `inconclusive: REASON`.
        public var verdict: String
    }

    public var rows: [Row]
    public var diskRatios: [DiskRatio]
    /// The accelerator every guest ran with (TCG is not KVM).
    public var accelerators: [String]

    public static let claim = "Containers are lighter on disk: per instance, a container adds less than a VM (one image, many instances)."

    public init(_ runs: [(image: String, results: RunResults)]) {
        var rows: [Row] = []
        var ratios: [DiskRatio] = []
        var accelerators = Set<String>()
        for (image, results) in runs {
            for backend in results.backends {
                let ready = results.values(backend, .ready)
                rows.append(Row(image: image, digest: results.environment.imageDigest, backend: backend,
                                trials: results.trials.filter { $0.backend == backend && $0.isCounted }.count,
                                readyMs: ready.isEmpty ? nil : Statistics.median(ready), readyInterval: Exact.median(ready),
                                diskImageMiB: results.values(backend, .diskImage).nonEmptyMedian,
                                diskInstanceKiB: results.values(backend, .diskInstance).nonEmptyMedian))
            }
            for trial in results.trials where trial.isCounted { if let a = trial.accelerator { accelerators.insert(a.rawValue) } }
            ratios.append(Self.diskRatio(image, vm: results.values(.vm, .diskInstance), container: results.values(.container, .diskInstance)))
        }
        self.rows = rows
        diskRatios = ratios
        self.accelerators = accelerators.sorted()
    }

    /// holds when the whole interval of vm/container lies above 1; does not
    /// hold when it lies at or below 1; inconclusive otherwise or without
    /// enough trials.
    static func diskRatio(_ image: String, vm: [Double], container: [Double]) -> DiskRatio {
        let needed = Exact.minimumPerGroup()
        guard vm.count >= needed, container.count >= needed, vm.allSatisfy({ $0 > 0 }), container.allSatisfy({ $0 > 0 }),
              let ratio = Exact.ratio(vm, container) else {
            return DiskRatio(image: image, ratio: nil, interval: nil,
                             verdict: "inconclusive: too few trials (n = \(vm.count) and \(container.count); needs \(needed) each)")
        }
        guard let interval = ratio.interval() else {
            return DiskRatio(image: image, ratio: ratio.ratio, interval: nil, verdict: "inconclusive: no interval at this many trials")
        }
        let verdict = interval.lower > 1 ? "holds" : interval.upper <= 1 ? "does not hold" : "inconclusive: the interval spans 1"
        return DiskRatio(image: image, ratio: ratio.ratio, interval: interval, verdict: verdict)
    }
}

extension Array where Element == Double {
    var nonEmptyMedian: Double? { isEmpty ? nil : Statistics.median(self) }
}
