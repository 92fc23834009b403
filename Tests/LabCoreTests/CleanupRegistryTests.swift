import Foundation
@testable import LabCore
import Testing

/// A registry of its own (not the shared one the commands use), and the
/// handler's work called as the signal queue calls it (a real signal to the
/// test runner may land on a thread that blocks it).
@Suite("cleanup on a signal")
struct CleanupRegistryTests {
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var raised = false
        func raise() { lock.withLock { raised = true } }
        var isRaised: Bool { lock.withLock { raised } }
    }

    /// The race `vm run` lost once: the command noticed the interruption and
    /// exited while the handler was still removing its guest's state file.
    @Test func anInterruptedExitWaitsUntilTheTeardownsHaveRun() throws {
        let registry = CleanupRegistry()
        let tornDown = Flag()
        _ = registry.register {
            usleep(300_000)
            tornDown.raise()
        }
        DispatchQueue.global().async { registry.handle(SIGHUP, onSignal: { _ in }) }
        let deadline = Date(timeIntervalSinceNow: 5)
        while registry.interrupted == nil, Date() < deadline { usleep(1_000) }
        #expect(registry.interrupted == SIGHUP)
        // The control: at this point an exit would leave the teardown half-done.
        #expect(!tornDown.isRaised, "the teardown is still sleeping")
        registry.waitForInterruptTeardown(timeout: 5)
        #expect(tornDown.isRaised)
    }
}
