/// What the checks of a run measured for the claims of the notes beyond the
/// trials: each namespace from inside a container and from a control, and
/// the four things cgroups are said to do. Plain data, raw observations: the
/// verdicts are computed from it by LabAnalysis, never stored.

/// One probe of isolation: the same question asked inside a container and
/// of a control (the same probe as a bare process, which sees the host's
/// object), with the host's own answer.
public struct IsolationProbe: Codable, Sendable, Equatable {
    /// `pid`, `net`, `ipc`, `mnt`, `uts`.
    public var namespace: String
    /// What was looked at, in words (`processes visible in /proc`).
    public var question: String
    /// The command a student could type to ask it.
    public var command: String
    /// The three answers in words, for the report.
    public var inside: String
    public var control: String
    public var host: String
    /// Which rule of the analysis reads `observed` (`pid.tree`,
    /// `uts.hostname`, `ipc.shm`, ...); nil in results written before the
    /// raw observations were kept.
    public var rule: String?
    /// The three answers as the probe read them, key by key.
    public var observed: Observed?
    /// Judgements stored by older results (before `observed`): read, shown
    /// as stored, never written now.
    public var isolated: Bool?
    public var controlSawHost: Bool?
    /// Whether the notes claim this is isolated (UTS and the kernel version: they do, wrongly).
    public var claimed: Bool

    public struct Observed: Codable, Sendable, Equatable {
        public var inside: [String: String]
        public var control: [String: String]
        public var host: [String: String]

        public init(inside: [String: String], control: [String: String], host: [String: String]) {
            self.inside = inside
            self.control = control
            self.host = host
        }
    }

    /// New probes give `rule` and `observed`; `isolated` and
    /// `controlSawHost` are for results as older labs stored them.
    public init(namespace: String, question: String, command: String, inside: String, control: String, host: String,
                rule: String? = nil, observed: Observed? = nil, isolated: Bool? = nil, controlSawHost: Bool? = nil, claimed: Bool = true) {
        self.namespace = namespace
        self.question = question
        self.command = command
        self.inside = inside
        self.control = control
        self.host = host
        self.rule = rule
        self.observed = observed
        self.isolated = isolated
        self.controlSawHost = controlSawHost
        self.claimed = claimed
    }
}

public struct IsolationEvidence: Codable, Sendable, Equatable {
    public var probes: [IsolationProbe]

    public init(probes: [IsolationProbe]) {
        self.probes = probes
    }

    public func probes(_ namespace: String) -> [IsolationProbe] { probes.filter { $0.namespace == namespace } }
}

/// cgroups, each of the four things measured on containers of the lab's own.
public struct CgroupEvidence: Codable, Sendable, Equatable {
    /// `v1`, `v2`, `hybrid`, and the files the lab used.
    public var mode: String
    public var limit: Limit?
    public var prioritise: Prioritise?
    public var account: Account?
    public var freeze: Freeze?
    /// Why a part could not be measured.
    public var errors: [String]

    public init(mode: String, limit: Limit? = nil, prioritise: Prioritise? = nil, account: Account? = nil, freeze: Freeze? = nil,
                errors: [String] = []) {
        self.mode = mode
        self.limit = limit
        self.prioritise = prioritise
        self.account = account
        self.freeze = freeze
        self.errors = errors
    }

    /// A memory limit against an allocation above it, the same allocation
    /// without a limit as the control, and a fork bomb under a pids limit.
    public struct Limit: Codable, Sendable, Equatable {
        public var memoryLimitMiB: Int
        public var allocationMiB: Int
        /// How the limited container ended (`killed by the memory limit (32 MiB)`).
        public var limitedExit: String
        /// The group's OOM-kill counter after the run (it started at 0).
        public var oomKills: Int?
        public var peakMiB: Double?
        /// How the unlimited control ended (`exited with 0`).
        public var controlExit: String
        public var pidsLimit: Int
        /// The most processes the group held at once (`pids.peak`, or the last count).
        public var pidsPeak: Int?
        /// Forks the limit refused (`pids.events` max).
        public var forksRefused: Int?
        /// The control: the most processes the same fork bomb held without
        /// the limit (it must pass the limit, or the limit proved nothing);
        /// nil in older results.
        public var pidsControlPeak: Int?

        public init(memoryLimitMiB: Int, allocationMiB: Int, limitedExit: String, oomKills: Int?, peakMiB: Double?, controlExit: String,
                    pidsLimit: Int, pidsPeak: Int?, forksRefused: Int?, pidsControlPeak: Int? = nil) {
            self.pidsControlPeak = pidsControlPeak
            self.memoryLimitMiB = memoryLimitMiB
            self.allocationMiB = allocationMiB
            self.limitedExit = limitedExit
            self.oomKills = oomKills
            self.peakMiB = peakMiB
            self.controlExit = controlExit
            self.pidsLimit = pidsLimit
            self.pidsPeak = pidsPeak
            self.forksRefused = forksRefused
        }
    }

    /// Two CPU-bound containers pinned to one CPU for a fixed window.
    public struct Prioritise: Codable, Sendable, Equatable {
        public var cpu: Int
        public var windowSeconds: Double
        /// The v2 weights asked for, and what was written (`cpu.shares=512`).
        public var weights: [Int]
        public var written: [String]
        /// Each container's share of the CPU time both used in the window.
        public var shares: [Double]
        /// The control: equal weights.
        public var controlShares: [Double]
        /// One container alone on the CPU with a quota of this many CPUs, and
        /// the share of the CPU it used; the control, the same without a quota.
        public var quota: Double
        public var quotaUsed: Double
        public var quotaControlUsed: Double
        /// How far a share may be from its expectation and still count.
        /// Written by results before the analysis owned its rules; read,
        /// never used for a verdict, and no longer written.
        public var tolerance: Double?

        public init(cpu: Int, windowSeconds: Double, weights: [Int], written: [String], shares: [Double], controlShares: [Double],
                    quota: Double, quotaUsed: Double, quotaControlUsed: Double, tolerance: Double? = nil) {
            self.cpu = cpu
            self.windowSeconds = windowSeconds
            self.weights = weights
            self.written = written
            self.shares = shares
            self.controlShares = controlShares
            self.quota = quota
            self.quotaUsed = quotaUsed
            self.quotaControlUsed = quotaControlUsed
            self.tolerance = tolerance
        }

        /// The shares the weights predict.
        public var expected: [Double] {
            let total = Double(weights.reduce(0, +))
            return weights.map { total > 0 ? Double($0) / total : 0 }
        }
    }

    /// The group's CPU time against the CPU time the agent measured for itself.
    public struct Account: Codable, Sendable, Equatable {
        public var cgroupMs: Double
        public var agentMs: Double
        /// The cgroup file it read.
        public var instrument: String
        /// Written by results before the analysis owned its rules; read,
        /// never used for a verdict, and no longer written.
        public var tolerance: Double?
        /// The control: the same instrument on a container whose agent sat
        /// idle as long; it must read far less, or the instrument does not
        /// tell work from none. nil in older results.
        public var idleCgroupMs: Double?

        public init(cgroupMs: Double, agentMs: Double, instrument: String, tolerance: Double? = nil, idleCgroupMs: Double? = nil) {
            self.idleCgroupMs = idleCgroupMs
            self.cgroupMs = cgroupMs
            self.agentMs = agentMs
            self.instrument = instrument
            self.tolerance = tolerance
        }

        public var ratio: Double { agentMs > 0 ? cgroupMs / agentMs : 0 }
    }

    /// A counting container frozen, watched, and thawed.
    public struct Freeze: Codable, Sendable, Equatable {
        public var countBefore: Int
        /// The count when frozen and again after the hold: equal if it held.
        public var countFrozen: Int
        public var countAfterHold: Int
        public var holdSeconds: Double
        public var countAfterThaw: Int
        public var freezeMs: Double
        public var thawMs: Double
        /// The group's memory before the freeze and while frozen.
        public var memoryBeforeKiB: Int?
        public var memoryFrozenKiB: Int?

        public init(countBefore: Int, countFrozen: Int, countAfterHold: Int, holdSeconds: Double, countAfterThaw: Int, freezeMs: Double,
                    thawMs: Double, memoryBeforeKiB: Int?, memoryFrozenKiB: Int?) {
            self.countBefore = countBefore
            self.countFrozen = countFrozen
            self.countAfterHold = countAfterHold
            self.holdSeconds = holdSeconds
            self.countAfterThaw = countAfterThaw
            self.freezeMs = freezeMs
            self.thawMs = thawMs
            self.memoryBeforeKiB = memoryBeforeKiB
            self.memoryFrozenKiB = memoryFrozenKiB
        }
    }
}

/// Whether a higher or a lower value of a metric is the better one, from its unit.
public enum MetricDirection: String, Sendable {
    case higherIsBetter, lowerIsBetter

    /// Rates (`MB/s`, `sieves/s`, `IOPS`) are better higher; times (`ms`,
    /// `ns/call`, `us/spawn`) lower; anything else has no direction.
    public static func of(unit: String) -> MetricDirection? {
        if unit.hasSuffix("/s") || unit == "IOPS" { return .higherIsBetter }
        let time = unit.split(separator: "/").first.map(String.init) ?? unit
        if ["ns", "us", "µs", "ms"].contains(time) { return .lowerIsBetter }
        return nil
    }
}

/// One attempt to reach the host that root in a container must be refused:
/// its errno on the host (the positive control) and inside the container.
public struct EscapeProbe: Codable, Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        /// Refused inside, allowed on the host: the refusal is the container's doing.
        case refused
        /// Allowed inside: a way out.
        case escaped
        /// The host itself refuses it (or lacks it): a refusal inside proves nothing.
        case inconclusive
        /// No result on one side (the probe's agent ended before it): nothing to read.
        case notRun
    }

    public var name: String
    /// What it tries, in words.
    public var tries: String
    /// The errno on the host, 0 when the kernel let it through; and in words.
    public var outside: Int32
    public var outsideText: String
    public var inside: Int32
    public var insideText: String
    /// The attempt counts as let through once it passed the kernel's
    /// permission check (an invalid module the loader then rejects), not
    /// only when it succeeded.
    public var pastPermissionCounts: Bool

    public init(name: String, tries: String, outside: Int32, outsideText: String, inside: Int32, insideText: String, pastPermissionCounts: Bool) {
        self.name = name
        self.tries = tries
        self.outside = outside
        self.outsideText = outsideText
        self.inside = inside
        self.insideText = insideText
        self.pastPermissionCounts = pastPermissionCounts
    }

    /// EPERM, ESRCH, ENOENT, EACCES, EROFS, ENOSYS: a refusal, an absence.
    static let refusals: Set<Int32> = [1, 2, 3, 13, 30, 38]

    public func allowed(_ errno: Int32) -> Bool {
        errno == 0 || (pastPermissionCounts && !Self.refusals.contains(errno))
    }

    public var status: Status {
        // A missing result is recorded as a negative errno.
        guard outside >= 0, inside >= 0 else { return .notRun }
        guard allowed(outside) else { return .inconclusive }
        return allowed(inside) ? .escaped : .refused
    }
}

public struct EscapeEvidence: Codable, Sendable, Equatable {
    public var probes: [EscapeProbe]
    /// The container's seccomp profile and device rules during the suite.
    public var seccomp: String
    public var devices: String

    public init(probes: [EscapeProbe], seccomp: String, devices: String) {
        self.probes = probes
        self.seccomp = seccomp
        self.devices = devices
    }

    public func count(_ status: EscapeProbe.Status) -> Int { probes.filter { $0.status == status }.count }
}
