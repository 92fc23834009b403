import LabModel

/// What a namespace probe's raw answers mean: whether the container's answer
/// differs from the host's as isolation predicts, and whether the control
/// saw the host's object (without which the first proves nothing). The
/// run's check and the demo of the same namespace read their answers with
/// these rules, so the claims table and the class cannot disagree.
public enum IsolationRules {
    public struct Judgement: Sendable, Equatable {
        public var isolated: Bool
        public var controlSawHost: Bool
        /// Taken as an older results file stored it, not computed here.
        public var stored: Bool
    }

    /// The probe's judgement from its observations; from its stored
    /// booleans for results written before observations were kept.
    public static func judge(_ probe: IsolationProbe) -> Judgement? {
        if let rule = probe.rule, let observed = probe.observed, let judged = judge(rule, observed) { return judged }
        guard let isolated = probe.isolated, let control = probe.controlSawHost else { return nil }
        return Judgement(isolated: isolated, controlSawHost: control, stored: true)
    }

    static func judge(_ rule: String, _ o: IsolationProbe.Observed) -> Judgement? {
        switch rule {
        case "pid.tree":
            return Judgement(isolated: pidTreeIsolated(o.inside, host: o.host), controlSawHost: pidTreeIsHosts(o.control, host: o.host), stored: false)
        case "uts.hostname", "uts.release", "uts.version":
            let host = o.host["value"]
            return Judgement(isolated: o.inside["value"] != nil && o.inside["value"] != host, controlSawHost: host != nil && o.control["value"] == host, stored: false)
        case "ipc.shm":
            guard let segment = o.host["segment"] else { return nil }
            return Judgement(isolated: !words(o.inside["ids"]).contains(segment), controlSawHost: words(o.control["ids"]).contains(segment), stored: false)
        case "mnt.tmpfs":
            return Judgement(isolated: o.inside["seen"] == "0", controlSawHost: mountSeen(o.control["seen"]) && o.host["mounted"] == "1", stored: false)
        case "net.interfaces":
            let host = Set(words(o.host["ifaces"])), hostOnly = host.subtracting(["lo"])
            let a = Set(words(o.inside["a"])), b = Set(words(o.inside["b"]))
            return Judgement(isolated: ownPair(a, b) && a.isDisjoint(with: hostOnly),
                             controlSawHost: !hostOnly.isEmpty && Set(words(o.control["ifaces"])) == host, stored: false)
        case "net.addresses":
            let host = Set(words(o.host["addrs"])), loopback: Set = ["127.0.0.1/8"]
            let a = Set(words(o.inside["a"])), b = Set(words(o.inside["b"]))
            guard let expectA = o.inside["expect_a"], let expectB = o.inside["expect_b"] else { return nil }
            let isolated = a.contains(expectA) && b.contains(expectB) && a.subtracting(loopback).isDisjoint(with: b)
                && a.isDisjoint(with: host.subtracting(loopback)) && o.inside["reach"] == "yes"
            return Judgement(isolated: isolated, controlSawHost: Set(words(o.control["addrs"])) == host && !host.subtracting(loopback).isEmpty, stored: false)
        default:
            return nil
        }
    }

    // MARK: - the rules, one per question, shared with the demos

    /// Inside: PID 1 is the container's own shell, and it sees a handful of
    /// processes (fewer than half the host's).
    public static func pidTreeIsolated(_ inside: [String: String], host: [String: String]) -> Bool {
        let count = Int(inside["count"] ?? "") ?? -1, hostCount = Int(host["count"] ?? "") ?? 0
        return inside["pid1"] == "sh" && count >= 1 && count < hostCount / 2
    }

    /// The control sees the host's PID 1 and at least half its processes.
    public static func pidTreeIsHosts(_ seen: [String: String], host: [String: String]) -> Bool {
        let count = Int(seen["count"] ?? "") ?? -1, hostCount = Int(host["count"] ?? "") ?? 0
        return seen["pid1"] != nil && seen["pid1"] == host["pid1"] && count >= hostCount / 2
    }

    /// Each of two containers sees lo and its own end of the pair, isl0.
    public static func ownPair(_ a: Set<String>, _ b: Set<String>) -> Bool {
        a == ["lo", "isl0"] && b == ["lo", "isl0"]
    }

    /// A `grep -c` of the mount table that found the mount.
    public static func mountSeen(_ count: String?) -> Bool {
        guard let count, let n = Int(count) else { return false }
        return n > 0
    }

    /// `a b c` as its words.
    public static func words(_ text: String?) -> [String] { (text ?? "").split(separator: " ").map(String.init) }
}
