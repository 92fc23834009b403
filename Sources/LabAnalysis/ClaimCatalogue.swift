/// The notes' statements, each written once: the claims table, the demos
/// and the handouts all name a claim by its id and read its words here.
public enum ClaimCatalogue {
    /// In the claims table's order.
    public static let entries: [(id: String, statement: String)] = [
        ("startup", "A new container starts in seconds; a new VM takes minutes."),
        ("startup.full-os", "A new container starts in seconds; a new VM takes minutes (the notes' case: each boots a whole operating system)."),
        ("kernel", "Containers use the host's kernel; VMs boot their own."),
        ("memory", "Containers are lighter than VMs in memory."),
        ("disk", "Containers are lighter than VMs on disk."),
        ("hardware", "Applications in containers use the hardware directly: better CPU, memory and I/O efficiency than in a VM."),
        ("namespace.pid", "PID namespaces isolate process IDs: a container sees only its own processes."),
        ("namespace.net", "NET namespaces give each container its own network interfaces and addresses."),
        ("namespace.ipc", "IPC namespaces isolate System V IPC objects and POSIX message queues."),
        ("namespace.mnt", "MNT namespaces isolate mount points: a mount on one side is not seen on the other."),
        ("namespace.uts", "UTS namespaces isolate the hostname and the kernel name and version number."),
        ("escape", "Root in a container cannot reach the host: namespaces and the container's other walls hold."),
        ("cgroup.limit", "cgroups limit what a container may use (memory, processes)."),
        ("cgroup.prioritise", "cgroups prioritise containers: CPU time is shared by weight."),
        ("cgroup.account", "cgroups account for what each container uses."),
        ("cgroup.freeze", "cgroups freeze containers, and thaw them."),
        ("density", "One image gives many simultaneous instances; containers pack more densely than VMs."),
        ("neighbours", "Containers do not disturb each other."),
        // Shown by demos only: no run measures them as a row.
        ("layers", "Containers are lighter on disk: many share one image, each writing only its own layer."),
        ("userns", "A user namespace maps root in the container to an unprivileged user on the host."),
    ]

    /// The statement of claim `id`; a missing id is the lab's own defect.
    public static func statement(_ id: String) -> String {
        guard let entry = entries.first(where: { $0.id == id }) else { preconditionFailure("no claim '\(id)' in the catalogue") }
        return entry.statement
    }
}
