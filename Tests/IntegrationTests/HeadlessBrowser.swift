import Foundation
import LabCore
import LabModel

/// Debian's Chromium, headless, driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: the browser reads commands on fd 3 and writes
/// replies and events on fd 4, each a JSON message ended by a NUL). What a
/// teacher projects must render: the tests load a page, measure its elements
/// with the browser's own layout, collect console errors and every request
/// it makes, and take a screenshot.
final class HeadlessBrowser {
    private let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private let profile: String
    private var buffer: [UInt8] = []
    private var nextID = 1
    /// Every event received so far (method, params, sessionId).
    private(set) var events: [[String: Any]] = []

    static func executable() -> String? {
        ["chromium", "chromium-browser", "google-chrome"].lazy.compactMap { HostCommand.which($0) }.first
    }

    init() throws {
        guard let chromium = Self.executable() else {
            throw LabError(.notFound, "chromium is not installed (scripts/setup-host installs it for the tests)")
        }
        var template = Array((NSTemporaryDirectory() + "isolab-chromium-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        profile = String(cString: made)
        var commands: [Int32] = [-1, -1], replies: [Int32] = [-1, -1]
        guard pipe(&commands) == 0, pipe(&replies) == 0 else { throw LabError.syscall("pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, commands[0], 3)
        posix_spawn_file_actions_adddup2(&actions, replies[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                         "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                         "--disable-background-networking", "--disable-sync", "--disable-component-update",
                         "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,1024", "about:blank"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, chromium, &actions, nil, &argv, environ)
        close(commands[0])
        close(replies[1])
        guard spawned == 0 else { close(commands[1]); close(replies[0]); throw LabError.syscall("spawn \(chromium)", errno: spawned) }
        pid = child
        toBrowser = commands[1]
        fromBrowser = replies[0]
    }

    deinit {
        _ = try? send("Browser.close", timeout: 5)
        close(toBrowser)
        close(fromBrowser)
        if ChildProcess.wait(pid, until: MonotonicClock.now() + 5_000_000_000) == nil { _ = ChildProcess.kill(pid) }
        try? FileSystem.removeTree(profile)
    }

    /// Sends a command and waits for its reply; events that arrive meanwhile are kept.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], session: String? = nil, timeout: Double = 30) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { message["sessionId"] = session }
        var bytes = Array(try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        try FileSystem.writeAll(toBrowser, bytes, path: "chromium's command pipe")
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while true {
            let reply = try nextMessage(deadline: deadline, waitingFor: method)
            if reply["id"] as? Int == id {
                if let error = reply["error"] as? [String: Any] {
                    throw LabError(.failed, "chromium: \(method): \(error["message"] ?? error)")
                }
                return reply["result"] as? [String: Any] ?? [:]
            }
            if reply["method"] != nil { events.append(reply) }
        }
    }

    /// Waits for an event named `method` of `session` (already received, or to come).
    func waitForEvent(_ method: String, session: String, timeout: Double = 30) throws -> [String: Any] {
        func matches(_ event: [String: Any]) -> Bool { event["method"] as? String == method && event["sessionId"] as? String == session }
        if let seen = events.first(where: matches) { return seen }
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        while true {
            let message = try nextMessage(deadline: deadline, waitingFor: method)
            if message["method"] != nil { events.append(message) }
            if matches(message) { return message }
        }
    }

    private func nextMessage(deadline: UInt64, waitingFor what: String) throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let data = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                return (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            }
            guard MonotonicClock.now() < deadline else { throw LabError(.timeout, "chromium did not answer \(what) in time") }
            var poller = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 || errno == EINTR else { throw LabError.syscall("poll chromium") }
            guard poller.revents != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fromBrowser, &chunk, chunk.count)
            guard count > 0 else { throw LabError(.failed, "chromium closed its pipe while \(what) was pending") }
            buffer += chunk[0..<count]
        }
    }

    /// What a page did once loaded.
    struct PageCheck {
        /// The value of `probe`, a JavaScript expression evaluated in the page (JSON-decoded).
        var probe: Any?
        var consoleErrors: [String]
        /// Every URL the page asked for beyond itself.
        var requests: [String]
        var screenshotBytes: Int
    }

    /// Loads `file`, evaluates `probe`, writes a full-page screenshot to `screenshot`.
    func check(file: String, probe: String, screenshot: String) throws -> PageCheck {
        let target = try send("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"] as? String else { throw LabError(.failed, "chromium made no page") }
        let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        guard let session = attached["sessionId"] as? String else { throw LabError(.failed, "chromium gave no session") }
        for domain in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] { try send(domain, session: session) }
        // A projector's page width; the height follows the page for the screenshot.
        try send("Emulation.setDeviceMetricsOverride", ["width": 1280, "height": 1024, "deviceScaleFactor": 1, "mobile": false], session: session)
        let url = URL(fileURLWithPath: file).absoluteString
        try send("Page.navigate", ["url": url], session: session)
        _ = try waitForEvent("Page.loadEventFired", session: session)
        let evaluated = try send("Runtime.evaluate", ["expression": probe, "returnByValue": true], session: session)
        let value = (evaluated["result"] as? [String: Any])?["value"]
        let shot = try send("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true], session: session)
        let png = Data(base64Encoded: shot["data"] as? String ?? "") ?? Data()
        try FileSystem.writeAtomically(screenshot, bytes: Array(png))
        var errors: [String] = []
        var requests: [String] = []
        for event in events where event["sessionId"] as? String == session {
            let params = event["params"] as? [String: Any] ?? [:]
            switch event["method"] as? String {
            case "Runtime.consoleAPICalled" where params["type"] as? String == "error":
                errors.append("console.error: \(params["args"] ?? "")")
            case "Runtime.exceptionThrown":
                errors.append("exception: \((params["exceptionDetails"] as? [String: Any])?["text"] ?? "")")
            case "Log.entryAdded":
                let entry = params["entry"] as? [String: Any] ?? [:]
                if entry["level"] as? String == "error" { errors.append("log: \(entry["text"] ?? "")") }
            case "Network.requestWillBeSent":
                let requested = (params["request"] as? [String: Any])?["url"] as? String ?? ""
                if requested != url && !requested.hasPrefix("data:") { requests.append(requested) }
            default: break
            }
        }
        return PageCheck(probe: value, consoleErrors: errors, requests: requests, screenshotBytes: png.count)
    }
}
