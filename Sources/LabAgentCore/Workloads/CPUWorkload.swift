import LabWire
/// Integer and floating-point work of a fixed size per round. Like STREAM,
/// each kernel reports the rate of its fastest round: on a shared machine the
/// least disturbed round is the most repeatable figure.
enum CPUWorkload {
    static let sieveLimit = 1_000_000
    static let hashBytes = 1 << 20
    static let fmaSteps = 10_000_000

    static func run(_ run: WorkloadRun, _ reporter: inout Reporter) throws(AgentError) {
        // With --seconds, each of the three parts gets a third of the time.
        let share = run.seconds().map { $0 / 3 }

        let sieve = try repeatWork(rounds: 20, seconds: share) { Sys.blackHole(primes(below: sieveLimit)) }
        reporter.emit(run, metric: "sieve", value: 1e9 / Double(sieve.bestNs),
                      unit: "sieves/s", durationNs: sieve.elapsedNs)
        // The best round is the CPU's speed; the rounds over the whole time are
        // what the workload got done, time spent unscheduled included (a
        // neighbour on the same CPU halves this, not the best round).
        reporter.emit(run, metric: "sieve_sustained", value: Double(sieve.rounds) * 1e9 / Double(sieve.elapsedNs),
                      unit: "sieves/s", durationNs: sieve.elapsedNs)

        let buffer = [UInt8](unsafeUninitializedCapacity: hashBytes) { pointer, count in
            for i in 0..<hashBytes { pointer[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
            count = hashBytes
        }
        let hash = try repeatWork(rounds: 32, seconds: share) { Sys.blackHole(SHA256.hash(buffer)) }
        reporter.emit(run, metric: "sha256", value: Double(hashBytes) / 1e6 / (Double(hash.bestNs) / 1e9),
                      unit: "MB/s", durationNs: hash.elapsedNs)

        let fp = try repeatWork(rounds: 10, seconds: share) { Sys.blackHole(multiplyAdd(fmaSteps)) }
        reporter.emit(run, metric: "fp", value: Double(fmaSteps) / 1e6 / (Double(fp.bestNs) / 1e9),
                      unit: "Mops/s", durationNs: fp.elapsedNs)
    }

    /// The number of primes below `limit` (sieve of Eratosthenes).
    static func primes(below limit: Int) -> Int {
        var composite = [Bool](repeating: false, count: limit)
        var count = 0
        composite.withUnsafeMutableBufferPointer { flags in
            var i = 2
            while i < limit {
                if !flags[i] {
                    count += 1
                    var j = i &* i
                    while j < limit {
                        flags[j] = true
                        j &+= i
                    }
                }
                i += 1
            }
        }
        return count
    }

    /// A dependent chain of multiply-adds that the optimiser cannot fold.
    static func multiplyAdd(_ steps: Int) -> Double {
        var x = 1.0, y = 0.5
        for _ in 0..<steps {
            x = x * 0.999_999_9 + 1e-7
            y = y * 1.000_000_1 - 1e-8
        }
        return x + y
    }
}
