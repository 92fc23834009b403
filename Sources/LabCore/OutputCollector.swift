#if canImport(Glibc)
import Glibc
#endif

/// Reads a child's output pipe (or a VM's console socket) to its end or a
/// deadline, keeping at most `limit` bytes, the instant of the first byte and
/// the instant the first line holding `marker` was read: how the lab times an
/// agent's `ISOLAB READY`, the same way for every backend. (A serial console
/// may put firmware escapes before the marker on its line.)
public struct OutputCollector {
    public var bytes: [UInt8] = []
    /// When the marker line was read (monotonic ns).
    public var markerSeen: UInt64?
    /// When the first byte was read (monotonic ns).
    public var firstByte: UInt64?
    /// When the agent's `ISOLAB DONE` line was read, after the marker (monotonic ns).
    public var doneSeen: UInt64?
    public var timedOut = false
    public let limit: Int
    let marker: [UInt8]
    let doneMarker = Array("ISOLAB DONE".utf8)
    private var lineStart = 0

    public init(marker: String = "ISOLAB READY", limit: Int = 1 << 20) {
        self.marker = Array(marker.utf8)
        self.limit = limit
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Reads `fd` until EOF or `deadline` (monotonic ns). `onFirstByte`
    /// runs once with the instant of the first byte; `onMarker` once, as
    /// soon as the marker line has been read.
    /// `onBytes` sees every chunk as it arrives (a live console).
    public mutating func drain(
        _ fd: Int32, deadline: UInt64, onFirstByte: (UInt64) -> Void = { _ in }, onMarker: (UInt64) -> Void = { _ in },
        onDone: (UInt64) -> Void = { _ in }, onBytes: ([UInt8]) -> Void = { _ in }
    ) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let now = MonotonicClock.now()
            if now >= deadline {
                timedOut = true
                return
            }
            let ready = poll(&poller, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
            if ready < 0 && errno != EINTR { return }
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            let stamp = MonotonicClock.now()
            if firstByte == nil {
                firstByte = stamp
                onFirstByte(stamp)
            }
            onBytes(Array(buffer[0..<n]))
            if bytes.count < limit { bytes.append(contentsOf: buffer[0..<min(n, limit - bytes.count)]) }
            // The marker line, then the DONE line after it (a whole OS's shutdown is timed from it).
            while doneSeen == nil, lineStart < bytes.count, let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = bytes[lineStart..<newline]
                if markerSeen == nil {
                    if Self.contains(line, marker) {
                        markerSeen = stamp
                        onMarker(stamp)
                    }
                } else if Self.contains(line, doneMarker) {
                    doneSeen = stamp
                    onDone(stamp)
                }
                lineStart = newline + 1
            }
        }
    }

    static func contains(_ line: ArraySlice<UInt8>, _ marker: [UInt8]) -> Bool {
        guard line.count >= marker.count else { return false }
        var index = line.startIndex
        while index + marker.count <= line.endIndex {
            if line[index..<(index + marker.count)].elementsEqual(marker) { return true }
            index += 1
        }
        return false
    }
}
