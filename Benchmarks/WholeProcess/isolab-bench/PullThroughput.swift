import ArgumentParser
import Foundation
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// `isolab image pull` against `skopeo copy` of the same image from the
/// same registry on loopback, in alternating rounds: Debian's
/// docker-registry started for the run (a temporary store), the image
/// pushed once, then each round a cold pull into a store that lost the
/// image (`image rm` and `gc`, the store's own removal) and a skopeo copy
/// into a new OCI layout. The lab's pull also unpacks its layers, which
/// skopeo's copy does not: the fetch alone (resolve, manifest, blobs) is
/// reported beside the whole pull.
struct PullThroughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "isolab image pull against skopeo copy, from a registry on loopback.")
    @OptionGroup var rounds: Rounds
    @Option(help: "The stored image to push and pull (default: debian-oci, the debian image as OCI).") var image = "debian-oci"

    func run() async throws {
        let isolab = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/isolab"
        guard FileSystem.exists(isolab) else { throw ValidationError("no isolab beside this benchmark at \(isolab)") }
        guard let registryExecutable = HostCommand.which("docker-registry"), let skopeo = HostCommand.which("skopeo") else {
            throw ValidationError("needs docker-registry and skopeo (scripts/setup-host --tests)")
        }
        var template = Array("/tmp/isolab-bench-pull-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ValidationError("mkdtemp failed") }
        let scratch = String(cString: made)
        defer { try? FileSystem.removeTree(scratch) }
        let port = Int.random(in: 20000...60000)
        try FileSystem.writeAtomically(scratch + "/config.yml", text: """
            version: 0.1
            log: {level: error, accesslog: {disabled: true}}
            storage: {filesystem: {rootdirectory: \(scratch)/data}}
            http: {addr: "127.0.0.1:\(port)", secret: bench}

            """)
        let registry = Process()
        registry.executableURL = URL(fileURLWithPath: registryExecutable)
        registry.arguments = ["serve", scratch + "/config.yml"]
        registry.standardOutput = FileHandle.nullDevice
        registry.standardError = FileHandle.nullDevice
        try registry.run()
        defer {
            kill(registry.processIdentifier, SIGKILL)
            registry.waitUntilExit()
        }
        let reference = "127.0.0.1:\(port)/lab/bench:v1"
        func run(_ executable: String, _ arguments: [String], home: String? = nil) throws -> (Double, String) {
            let started = MonotonicClock.now()
            let output = try HostCommand.run(executable, arguments, timeout: 900, environment: home.map { ["ISOLAB_HOME": $0] } ?? [:])
            let elapsed = Double(MonotonicClock.now() - started)
            guard output.status == 0 else { throw ValidationError("\(executable) \(arguments.joined(separator: " ")): \(output.stderr)") }
            return (elapsed, output.stdout)
        }
        var pushed = false
        for _ in 0..<100 where !pushed {
            usleep(50_000)
            pushed = (try? run(isolab, ["image", "push", image, reference])) != nil
        }
        guard pushed else { throw ValidationError("could not push \(image) to the registry on \(port)") }
        let home = scratch + "/home"
        try FileSystem.makeDirectory(home, mode: 0o700)
        var lab: [Double] = [], fetch: [Double] = [], copy: [Double] = []
        var bytes = ""
        let (runs, warmup) = (rounds.runs ?? 5, rounds.warmup ?? 1)
        for index in 0..<(warmup + runs) {
            _ = try? run(isolab, ["image", "rm", reference], home: home)
            _ = try run(isolab, ["gc"], home: home)
            let (whole, stdout) = try run(isolab, ["image", "pull", reference], home: home)
            // "... (resolve 0.006, manifest 0.008, blobs 1.174, unpack 5.099)"
            let phases = Dictionary(stdout.split(separator: "(").last?.dropLast(2).split(separator: ",").compactMap { part -> (String, Double)? in
                let pair = part.split(separator: " ")
                guard pair.count == 2, let seconds = Double(pair[1]) else { return nil }
                return (String(pair[0]), seconds)
            } ?? [], uniquingKeysWith: { a, _ in a })
            guard let blobs = phases["blobs"], stdout.contains("0 already stored") else { throw ValidationError("a cold pull that fetched nothing, or no phases: \(stdout)") }
            bytes = stdout.split(separator: "(").dropFirst().first.map { String($0.prefix { $0 != ")" }) } ?? bytes
            try? FileSystem.removeTree(scratch + "/oci")
            let (copied, _) = try run(skopeo, ["copy", "--quiet", "--src-tls-verify=false", "docker://" + reference, "oci:\(scratch)/oci:bench"])
            if index >= warmup {
                lab.append(whole)
                fetch.append(((phases["resolve"] ?? 0) + (phases["manifest"] ?? 0) + blobs) * 1e9)
                copy.append(copied)
            }
        }
        print("image \(image): \(bytes) fetched per cold pull, registry on loopback (docker-registry \(port)), \(runs) rounds + \(warmup) warm-up")
        print(describe("isolab image pull (fetch + unpack)".padding(toLength: 36, withPad: " ", startingAt: 0), lab))
        print(describe("isolab image pull, its fetch".padding(toLength: 36, withPad: " ", startingAt: 0), fetch))
        print(describe("skopeo copy docker:// oci:".padding(toLength: 36, withPad: " ", startingAt: 0), copy))
        print(ratioLine("pull's fetch / skopeo copy", fetch, copy))
        print(ratioLine("whole pull / skopeo copy", lab, copy))
    }
}
