import Glibc
import LabCore
import LabModel
import Testing

@testable import LabContainer

/// mountinfo as each kind of host writes it.
enum MountInfoFixtures {
    static let hybrid = """
        23 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    static let v1 = """
        23 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        31 23 0:28 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/pids rw,nosuid shared:12 - cgroup cgroup rw,pids
        37 31 0:34 / /sys/fs/cgroup/freezer rw,nosuid shared:13 - cgroup cgroup rw,freezer
        """

    static let v2 = """
        23 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """
}

@Suite("cgroup mode detection (fake mountinfo)")
struct CgroupLayoutTests {
    @Test func hybridHostHasV1ControllersAndAUnifiedMount() throws {
        let layout = try CgroupLayout.detect(mountInfo: MountInfoFixtures.hybrid)
        #expect(layout.mode == .hybrid)
        #expect(layout.unifiedMount == "/sys/fs/cgroup/unified")
        #expect(layout.v1MountPoint(of: "memory") == "/sys/fs/cgroup/memory")
        #expect(layout.v1MountPoint(of: "blkio") == nil)
        // name=systemd and xattr are not controllers
        #expect(layout.mounts.first { $0.mountPoint.hasSuffix("systemd") }?.controllers == [])
    }

    @Test func legacyHostWithCoMountedControllers() throws {
        let layout = try CgroupLayout.detect(mountInfo: MountInfoFixtures.v1)
        #expect(layout.mode == .v1)
        #expect(layout.unifiedMount == nil)
        #expect(layout.v1MountPoint(of: "cpu") == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1MountPoint(of: "cpuacct") == "/sys/fs/cgroup/cpu,cpuacct")
    }

    @Test func unifiedHost() throws {
        let layout = try CgroupLayout.detect(mountInfo: MountInfoFixtures.v2)
        #expect(layout.mode == .v2)
        #expect(layout.unifiedMount == "/sys/fs/cgroup")
        #expect(layout.mounts.allSatisfy { $0.controllers.isEmpty })
    }

    @Test func noCgroupMountIsAnErrorSayingWhatToMount() {
        do {
            _ = try CgroupLayout.detect(mountInfo: "23 1 254:0 / / rw - ext4 /dev/vda rw\n")
            Issue.record("expected an error")
        } catch let error as LabError {
            #expect(error.code == .unsupported)
            #expect(error.message.contains("mount cgroup2"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func malformedLinesAreSkipped() throws {
        let text = "garbage\n1 2\n - cgroup2\n" + MountInfoFixtures.v2
        #expect(try CgroupLayout.detect(mountInfo: text).mode == .v2)
    }

    @Test func escapedMountPointsAreDecoded() throws {
        let text = "41 31 0:38 / /tmp/with\\040space rw - cgroup2 cgroup2 rw\n"
        #expect(try CgroupLayout.detect(mountInfo: text).unifiedMount == "/tmp/with space")
    }

    @Test func thisHostIsDetectedAndConfirmedByStatfs() throws {
        let layout = try CgroupLayout.detectHost()
        // Whatever the mode, every mount kept passed the statfs magic check.
        #expect(!layout.mounts.isEmpty)
    }
}

@Suite("cgroup placement and probing (fake cgroupfs trees)")
struct CgroupPlacementTests {
    func fakeTree() throws -> String {
        var template = Array("/tmp/isolab-cgroupfs-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        return String(cString: path)
    }

    func remove(_ path: String) {
        for name in FileSystem.list(path) {
            let child = path + "/" + name
            if FileSystem.isDirectory(child) { remove(child) } else { unlink(child) }
        }
        rmdir(path)
    }

    @Test func v2PlacementUsesTheUnifiedControllersAndCoreFiles() throws {
        let layout = try CgroupLayout.detect(mountInfo: MountInfoFixtures.v2)
        let memory = layout.placement(of: "memory", unifiedControllers: ["cpu", "memory", "pids"])
        #expect(memory.hierarchy == .v2)
        #expect(memory.controlFile == "memory.max")
        #expect(layout.placement(of: "cpuacct", unifiedControllers: []).controlFile == "cpu.stat")
        #expect(layout.placement(of: "freezer", unifiedControllers: []).controlFile == "cgroup.freeze")
        #expect(layout.placement(of: "pids", unifiedControllers: ["cpu"]).hierarchy == .missing)
    }

    @Test func hybridPrefersV1AndFallsBackToUnified() throws {
        let layout = try CgroupLayout.detect(mountInfo: MountInfoFixtures.hybrid)
        #expect(layout.placement(of: "memory", unifiedControllers: ["memory"]).hierarchy == .v1)
        // cpuset is not a lab controller, but a controller only on cgroup2 is found there
        let hybridWithoutPidsV1 = CgroupLayout(
            mode: .hybrid, mounts: layout.mounts.filter { !$0.controllers.contains("pids") })
        #expect(hybridWithoutPidsV1.placement(of: "pids", unifiedControllers: ["pids"]).hierarchy == .v2)
        #expect(hybridWithoutPidsV1.placement(of: "pids", unifiedControllers: []).hierarchy == .missing)
    }

    @Test func v2ProbeEnablesControllersAndReadsTheRootList() throws {
        let root = try fakeTree()
        defer { remove(root) }
        try FileSystem.writeAtomically(root + "/cgroup.controllers", text: "cpuset cpu io memory pids\n")
        try FileSystem.writeAtomically(root + "/cgroup.subtree_control", text: "")
        let layout = try CgroupLayout.detect(mountInfo: "30 23 0:26 / \(root) rw - cgroup2 cgroup2 rw\n")
        #expect(layout.unifiedControllers() == ["cpuset", "cpu", "io", "memory", "pids"])
        try layout.enable("memory", in: root)
        #expect(try FileSystem.readText(root + "/cgroup.subtree_control") == "+memory")
        // A real kernel would populate the new group; the fake tree does not,
        // so the probe must say the group lacks the controller's file.
        try FileSystem.writeAtomically(root + "/cgroup.subtree_control", text: "memory")
        try FileSystem.createDirectory(root + "/isolab", mode: 0o755, parents: 0o755)
        try FileSystem.writeAtomically(root + "/isolab/cgroup.subtree_control", text: "")
        let statuses = layout.probeControllers(group: "probe")
        let memory = try #require(statuses.first { $0.placement.controller == "memory" })
        #expect(!memory.usable)
        #expect(memory.detail.contains("has no memory.max"))
        #expect(!FileSystem.exists(root + "/isolab/probe"))
    }

    @Test func v1ProbeOnAFakeTreeFindsTheMissingFiles() throws {
        let root = try fakeTree()
        defer { remove(root) }
        let mountinfo = ["cpu", "cpuacct", "memory", "pids", "freezer"].enumerated().map { i, c in
            try? FileSystem.createDirectory(root + "/" + c, mode: 0o755, parents: 0o755)
            return "\(30 + i) 23 0:\(i) / \(root)/\(c) rw - cgroup cgroup rw,\(c)"
        }.joined(separator: "\n")
        let layout = try CgroupLayout.detect(mountInfo: mountinfo)
        #expect(layout.mode == .v1)
        let statuses = layout.probeControllers(group: "probe")
        #expect(statuses.map(\.placement.controller) == CgroupLayout.labControllers)
        #expect(statuses.allSatisfy { !$0.usable && $0.placement.hierarchy == .v1 })
        #expect(statuses.allSatisfy { !FileSystem.exists($0.placement.mountPoint! + "/isolab/probe") })
    }
}
