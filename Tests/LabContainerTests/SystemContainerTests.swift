import Glibc
import LabCore
import LabModel
import Testing

@testable import LabContainer

/// What systemd's container interface asks of the lab, per cgroup mode,
/// on fake mountinfo and fake trees: no root needed.
@Suite("system containers: mounts and cgroup hierarchies (fake hosts)")
struct SystemContainerTests {
    let system = ContainerSpec.SystemContainer(console: "/dev/pts/7", hostDirectory: "/var/lib/isolab/run/containers/abc/host")

    @Test func aHybridHostGetsItsUnifiedAndSystemdHierarchiesUnderAReadOnlyTmpfs() {
        let mounts = system.mounts(mode: .hybrid)
        #expect(mounts.first == ContainerSpec.SystemContainer.Mount(source: "tmpfs", target: "/sys/fs/cgroup", fstype: "tmpfs",
                                                                     flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), data: "mode=755"))
        #expect(mounts.contains { $0.target == "/sys/fs/cgroup/unified" && $0.fstype == "cgroup2" && $0.create == .directory })
        #expect(mounts.contains { $0.target == "/sys/fs/cgroup/systemd" && $0.data == "none,name=systemd" })
        #expect(mounts.filter { $0.create == .symlink }.map(\.target).sorted() == ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/net_cls", "/sys/fs/cgroup/net_prio"])
        // The tmpfs made read-only last, after the hierarchies were mounted on it.
        let remount = mounts.lastIndex { $0.target == "/sys/fs/cgroup" }!
        #expect(mounts[remount].flags & UInt(MS_REMOUNT) != 0 && mounts[remount].flags & UInt(MS_RDONLY) != 0)
        #expect(mounts.firstIndex { $0.target == "/sys/fs/cgroup/systemd" }! < remount)
        // The console, and /run/host read-only.
        #expect(mounts.contains { $0.source == "/dev/pts/7" && $0.target == "/dev/console" && $0.create == .file && $0.flags == UInt(MS_BIND) })
        #expect(mounts.last?.target == "/run/host" && (mounts.last!.flags & UInt(MS_RDONLY)) != 0)
    }

    @Test func aV1HostHasNoUnifiedMountAndAV2HostOneCgroup2() {
        #expect(!system.mounts(mode: .v1).contains { $0.fstype == "cgroup2" })
        #expect(system.mounts(mode: .v1).contains { $0.data == "none,name=systemd" })
        let v2 = system.mounts(mode: .v2).filter { $0.target.hasPrefix("/sys/fs/cgroup") }
        #expect(v2 == [ContainerSpec.SystemContainer.Mount(source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2",
                                                           flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC))])
    }

    @Test func theManagerAddsTheHierarchiesSystemdUsesAndOnlyForSystemContainers() throws {
        let hybrid = try CgroupLayout.detect(mountInfo: MountInfoFixtures.hybrid)
        let plain = try #require(try hybrid.manager(for: "abc") as? CgroupV1Manager)
        #expect(plain.groups["name=systemd"] == nil && plain.groups["unified"] == nil)
        let system = try #require(try hybrid.manager(for: "abc", systemHierarchies: true) as? CgroupV1Manager)
        #expect(system.groups["name=systemd"] == "/sys/fs/cgroup/systemd/isolab/abc")
        #expect(system.groups["unified"] == "/sys/fs/cgroup/unified/isolab/abc")
        // A v1 host without name=systemd: one line saying how to mount it.
        let v1 = try CgroupLayout.detect(mountInfo: MountInfoFixtures.v1)
        #expect(throws: LabError.self) { try v1.manager(for: "abc", systemHierarchies: true) }
        do {
            _ = try v1.manager(for: "abc", systemHierarchies: true)
        } catch let error as LabError {
            #expect(error.message.contains("name=systemd") && !error.message.contains("\n"))
        }
    }

    /// systemd makes groups of its own below the container's: removal goes
    /// deepest first (a fake tree: rmdir of a plain directory behaves alike).
    @Test func removalTakesTheSubgroupsSystemdMadeFirst() throws {
        var template = Array("/tmp/isolab-cg-XXXXXX".utf8CString)
        let root = String(cString: mkdtemp(&template)!)
        defer { try? FileSystem.removeTree(root) }
        let group = root + "/isolab/abc"
        for sub in ["", "/init.scope", "/system.slice", "/system.slice/dbus.service"] {
            try FileSystem.createDirectory(group + sub, mode: 0o755, parents: 0o755)
        }
        #expect(CgroupFile.subgroups(group).first == group + "/init.scope" || CgroupFile.subgroups(group).first == group + "/system.slice/dbus.service")
        try CgroupFile.remove(group)
        #expect(!FileSystem.exists(group))
    }
}
