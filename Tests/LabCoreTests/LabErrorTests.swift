import Glibc
import LabModel
import Testing

@testable import LabCore

@Suite("LabError and errno names")
struct LabErrorTests {
    @Test func errnoIsNamedWithItsSymbolAndText() {
        #expect(Errno.describe(EACCES) == "EACCES (permission denied)")
        #expect(Errno.describe(ENOENT) == "ENOENT (no such file or directory)")
        #expect(Errno.name(EBUSY) == "EBUSY")
    }

    @Test func syscallErrorNamesTheStep() {
        let error = LabError.syscall("create cgroup /sys/fs/cgroup/memory/isolab/x", errno: EACCES)
        #expect(error.description == "create cgroup /sys/fs/cgroup/memory/isolab/x: EACCES (permission denied)")
        #expect(error.code == .systemCall)
        #expect(error.exitStatus == 1)
    }

    @Test func badInputExitsWithTwo() {
        #expect(LabError(.invalidInput, "--memory banana is not a size").exitStatus == 2)
    }

    @Test func underlyingCauseIsAppended() {
        let cause = LabError(.notFound, "inner")
        #expect(LabError(.failed, "outer", underlying: cause).description == "outer: inner")
    }
}

@Suite("File helpers")
struct FileSystemTests {
    func temporaryDirectory() throws -> String {
        var template = Array("/tmp/isolab-test-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        return String(cString: path)
    }

    @Test func atomicWriteLeavesOnlyTheFile() throws {
        let dir = try temporaryDirectory()
        defer { FileSystem.list(dir).forEach { unlink(dir + "/" + $0) }; rmdir(dir) }
        try FileSystem.writeAtomically(dir + "/a.json", text: "{}\n")
        try FileSystem.writeAtomically(dir + "/a.json", text: "{\"b\":1}\n")
        #expect(FileSystem.list(dir) == ["a.json"])
        #expect(try FileSystem.readText(dir + "/a.json") == "{\"b\":1}\n")
    }

    @Test func concurrentAtomicWritesOfOnePathAllSucceed() async throws {
        let dir = try temporaryDirectory()
        defer { FileSystem.list(dir).forEach { unlink(dir + "/" + $0) }; rmdir(dir) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<16 {
                group.addTask { try FileSystem.writeAtomically(dir + "/tag", text: "\(index)\n") }
            }
            try await group.waitForAll()
        }
        #expect(FileSystem.list(dir) == ["tag"])
    }

    @Test func failedAtomicWriteNamesThePath() throws {
        #expect(throws: LabError.self) {
            try FileSystem.writeAtomically("/nonexistent-dir-isolab/x", text: "x")
        }
        do {
            try FileSystem.writeAtomically("/nonexistent-dir-isolab/x", text: "x")
        } catch let error as LabError {
            #expect(error.message.hasPrefix("create /nonexistent-dir-isolab/x.tmp-"))
            #expect(error.message.hasSuffix("ENOENT (no such file or directory)"))
        }
    }

    @Test func createDirectoryIsRecursiveAndIdempotent() throws {
        let dir = try temporaryDirectory()
        try FileSystem.createDirectory(dir + "/a/b/c", mode: 0o755, parents: 0o755)
        try FileSystem.createDirectory(dir + "/a/b/c", mode: 0o755, parents: 0o755)
        #expect(FileSystem.isDirectory(dir + "/a/b/c"))
        rmdir(dir + "/a/b/c"); rmdir(dir + "/a/b"); rmdir(dir + "/a"); rmdir(dir)
    }

    /// The parents get the mode stated for them, not the leaf's (the bug
    /// that closed `run/vms` to QEMU), and both are exact, whatever the umask.
    @Test func parentsTakeTheirOwnStatedModeNotTheLeafs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileSystem.removeTree(dir) }
        let old = umask(0o077)
        defer { umask(old) }
        try FileSystem.createDirectory(dir + "/a/b/leaf", mode: 0o700, parents: 0o755)
        func mode(_ path: String) -> mode_t {
            var st = stat()
            stat(path, &st)
            return st.st_mode & 0o7777
        }
        #expect(mode(dir + "/a") == 0o755 && mode(dir + "/a/b") == 0o755 && mode(dir + "/a/b/leaf") == 0o700)
        #expect(try FileSystem.makeDirectory(dir + "/a/m", mode: 0o711) && mode(dir + "/a/m") == 0o711)
        // An existing directory is left as it is; a missing parent is an error naming it.
        #expect(try !FileSystem.makeDirectory(dir + "/a/m", mode: 0o700) && mode(dir + "/a/m") == 0o711)
        #expect(throws: LabError.self) { try FileSystem.makeDirectory(dir + "/missing/leaf", mode: 0o700) }
    }

    @Test func meminfoValues() {
        let text = "MemTotal:       24605148 kB\nMemFree:        23000000 kB\nMemAvailable:   24000000 kB\n"
        #expect(MemInfo.value("MemTotal", in: text) == 24_605_148)
        #expect(MemInfo.value("MemAvailable", in: text) == 24_000_000)
        #expect(MemInfo.value("Mem", in: text) == nil)
        #expect(MemInfo.value("VmHWM", in: "VmPeak:\t  300000 kB\nVmHWM:\t  254272 kB\n") == 254_272)
    }

    @Test func trimmingTakesSpacesAndTabsFromBothEndsAndNewlinesFromTheEnd() {
        #expect(" \t abc def \t\n\n".trimmingWhitespace() == "abc def")
        #expect("\nabc".trimmingWhitespace() == "\nabc")
        #expect("   ".trimmingWhitespace() == "")
        #expect("".trimmingWhitespace() == "")
        #expect("é 1\n"[...].trimmingWhitespace() == "é 1")
    }

    @Test func startTraceMarksAreReadBackInOrderAmongOtherLines() {
        let text = "isolab-trace main 10\nISOLAB READY version=1\nisolab-trace parsed 25\nisolab-trace bad x\ncloned + 1 ms at 1 ms\n"
        let marks = StartTrace.marks(in: text)
        #expect(marks.map(\.name) == ["main", "parsed"] && marks.map(\.ns) == [10, 25])
    }

    @Test func subdirectoriesListsOnlyDirectories() throws {
        let dir = try temporaryDirectory()
        defer { try? FileSystem.removeTree(dir) }
        try FileSystem.makeDirectory(dir + "/b", mode: 0o755)
        try FileSystem.makeDirectory(dir + "/a", mode: 0o755)
        try FileSystem.writeAtomically(dir + "/file", text: "x")
        #expect(symlink(dir + "/a", dir + "/link") == 0)
        #expect(FileSystem.subdirectories(dir) == ["a", "b"])
        #expect(FileSystem.subdirectories(dir + "/missing") == [])
    }
}
