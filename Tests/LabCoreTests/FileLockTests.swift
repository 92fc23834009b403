import Foundation
@testable import LabCore
import LabModel
import Testing

/// flock locks belong to an open file description, so a second acquire in
/// the same process contends as another process would.
@Suite("file lock")
struct FileLockTests {
    func lockPath() -> String { NSTemporaryDirectory() + "isolab-lock-\(UUID().uuidString)" }

    @Test func aHeldLockRefusesWithoutWaitingAndNamesItsHolder() throws {
        let path = lockPath()
        defer { unlink(path) }
        let held = try #require(try FileLock.acquire(path, purpose: "isolab run a.yaml", wait: false))
        #expect(FileLock.readHolder(path) == FileLock.Holder(pid: getpid(), startTime: ProcessState.startTime(getpid()), purpose: "isolab run a.yaml"))
        let error = #expect(throws: LabError.self) { try FileLock.acquire(path, purpose: "second", wait: false) }
        #expect(error?.code == .busy && error?.exitStatus == 1)
        #expect(error?.message.contains("pid \(getpid()) (isolab run a.yaml)") == true, "\(String(describing: error))")
        held.release()
        #expect(FileLock.readHolder(path) == nil)
        let again = try #require(try FileLock.acquire(path, purpose: "second", wait: false))
        again.release()
    }

    @Test func aWaiterIsToldOnceAndStopsWhenAsked() throws {
        let path = lockPath()
        defer { unlink(path) }
        let held = try #require(try FileLock.acquire(path, purpose: "first", wait: false))
        defer { held.release() }
        var told: [FileLock.Holder?] = []
        var polls = 0
        let result = try FileLock.acquire(path, purpose: "second", wait: true, onWait: { told.append($0) },
                                          shouldStop: { polls += 1; return polls > 3 })
        #expect(result == nil)
        #expect(told.count == 1 && told.first??.purpose == "first")
    }

    @Test func aRecordOfADeadProcessNamesNoHolder() throws {
        let path = lockPath()
        defer { unlink(path) }
        try FileSystem.writeAtomically(path, text: "\(getpid())\n1\nstale\n")
        #expect(FileLock.readHolder(path) == nil, "a start time that is not this process's is a reused pid")
    }
}
