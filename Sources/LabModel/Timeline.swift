/// Named instants of one trial on the host's monotonic clock, in the order
/// they happened: `spawn_start`, `cloned`, ... for a container,
/// `define_start`, `domain_started`, ... for a VM.
public struct Timeline: Codable, Sendable, Equatable {
    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        /// CLOCK_MONOTONIC, nanoseconds.
        public var ns: UInt64

        public init(name: String, ns: UInt64) {
            self.name = name
            self.ns = ns
        }
    }

    public private(set) var phases: [Phase] = []

    public init() {}

    public init(phases: [Phase]) {
        self.phases = phases
    }

    /// Records `name` at `ns` (LabCore's `mark(_:)` records it now); a
    /// phase already recorded keeps its first instant.
    public mutating func mark(_ name: String, at ns: UInt64) {
        guard !phases.contains(where: { $0.name == name }) else { return }
        // Kept in the order of the instants: a reader may mark a phase it
        // saw earlier (the first byte) after one it saw later (READY).
        let index = phases.lastIndex { $0.ns <= ns }.map { $0 + 1 } ?? 0
        phases.insert(Phase(name: name, ns: ns), at: index)
    }

    public subscript(_ name: String) -> UInt64? {
        phases.first { $0.name == name }?.ns
    }

    /// Nanoseconds from one phase to another, when both happened.
    public func duration(_ from: String, _ to: String) -> UInt64? {
        guard let a = self[from], let b = self[to], b >= a else { return nil }
        return b - a
    }

    /// Each phase's time since the previous one, in milliseconds: where the time goes.
    public func steps() -> [(name: String, milliseconds: Double)] {
        var result: [(String, Double)] = []
        for (index, phase) in phases.enumerated() where index > 0 {
            result.append((phase.name, Double(phase.ns &- phases[index - 1].ns) / 1e6))
        }
        return result
    }

    /// A short table for the terminal.
    public func render() -> String {
        guard let first = phases.first else { return "(no phases)\n" }
        var text = ""
        for (index, phase) in phases.enumerated() {
            let since = Double(phase.ns - first.ns) / 1e6
            let step = index == 0 ? 0 : Double(phase.ns - phases[index - 1].ns) / 1e6
            text += "\(phase.name.padded(16)) +\(format(step).leftPadded(10)) ms   at \(format(since).leftPadded(10)) ms\n"
        }
        return text
    }

    private func format(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        var text = "\(rounded)"
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < 3 { text += String(repeating: "0", count: 3 - decimals) }
        }
        return text
    }
}

extension String {
    func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
