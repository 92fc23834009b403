/// What one teaching demo did and saw: its numbered steps (each the command
/// or system call the lab made, what to expect, what was seen inside and on
/// the host), the negative control, and the verdict computed from them.
/// `isolab demo --json` writes it; the text narration and the HTML handout
/// are rendered from it alone.
public struct DemoRecord: Codable, Sendable, Equatable {
    public var name: String
    public var title: String
    /// The claim of the notes the demo puts to the test.
    public var claim: String
    public var steps: [DemoStep]
    /// The same probe without the feature (a bare process, no limit, ...):
    /// it must see the host's object, or the demo proves nothing.
    public var control: DemoStep?
    public var verdict: DemoVerdict
    /// The figures the verdict was computed from, by name.
    public var evidence: [String: String]
    /// A small chart where one helps (CPU shares, start times).
    public var chart: DemoChart?
    /// `KVM` or `TCG` for a demo that booted a guest.
    public var accelerator: String?
    /// Set only by the tests: the feature the demo ran without, to show that
    /// it then fails.
    public var without: String?
    public var seconds: Double
    public var host: String

    public init(name: String, title: String, claim: String, steps: [DemoStep], control: DemoStep?, verdict: DemoVerdict,
                evidence: [String: String], chart: DemoChart? = nil, accelerator: String? = nil, without: String? = nil,
                seconds: Double, host: String) {
        self.name = name
        self.title = title
        self.claim = claim
        self.steps = steps
        self.control = control
        self.verdict = verdict
        self.evidence = evidence
        self.chart = chart
        self.accelerator = accelerator
        self.without = without
        self.seconds = seconds
        self.host = host
    }

    /// PASS only if every step saw what it expected and the control saw the
    /// host's object (a control that saw nothing makes the demo prove nothing).
    public static func verdict(steps: [DemoStep], control: DemoStep?) -> DemoVerdict {
        let failed = steps.filter { $0.passed == false }.map(\.number)
        if let control, control.passed == false {
            return DemoVerdict(pass: false, reason: "the control did not see the host's object, so the demo proves nothing")
        }
        if !failed.isEmpty {
            return DemoVerdict(pass: false, reason: "step\(failed.count == 1 ? "" : "s") \(failed.map(String.init).joined(separator: ", ")) did not see what was expected")
        }
        return DemoVerdict(pass: true, reason: "every step saw what was expected" + (control == nil ? "" : ", and the control saw the host's"))
    }
}

public struct DemoStep: Codable, Sendable, Equatable {
    public var number: Int
    /// What we do, in words.
    public var what: String
    /// The command or system call, as a student could type it.
    public var command: String
    public var expect: String
    public var inside: String
    public var host: String
    /// nil: a step that only shows something (no expectation to meet).
    public var passed: Bool?

    public init(number: Int, what: String, command: String, expect: String, inside: String, host: String, passed: Bool?) {
        self.number = number
        self.what = what
        self.command = command
        self.expect = expect
        self.inside = inside
        self.host = host
        self.passed = passed
    }
}

public struct DemoVerdict: Codable, Sendable, Equatable {
    public var pass: Bool
    public var reason: String

    public init(pass: Bool, reason: String) {
        self.pass = pass
        self.reason = reason
    }

    public var word: String { pass ? "PASS" : "FAIL" }
}

/// Bars: a label, a value, and the unit they share.
public struct DemoChart: Codable, Sendable, Equatable {
    public var title: String
    public var unit: String
    public var bars: [Bar]

    public struct Bar: Codable, Sendable, Equatable {
        public var label: String
        public var value: Double

        public init(label: String, value: Double) {
            self.label = label
            self.value = value
        }
    }

    public init(title: String, unit: String, bars: [Bar]) {
        self.title = title
        self.unit = unit
        self.bars = bars
    }
}
