import Logging
import ServiceLifecycle
import Synchronization
import TollgateCore

/// The configured facilitators and which networks each one currently serves.
///
/// A facilitator serves a network only after its `/supported` answer listed it: until the start-up
/// check succeeds, paid routes on that network stay closed (503), never open.
public final class FacilitatorPool: Sendable {
    public struct Member: Sendable {
        public var facilitator: any Facilitator
        /// The networks it is configured for; empty means whatever it supports.
        public var networks: Set<String>
        public var breaker: CircuitBreaker.Settings
        public init(facilitator: any Facilitator, networks: Set<String>, breaker: CircuitBreaker.Settings = .init()) {
            self.facilitator = facilitator
            self.networks = networks
            self.breaker = breaker
        }
    }

    public let members: [Member]
    /// The members as called: timed and reported to the metrics sink when there is one.
    private let callable: [any Facilitator]
    /// Per member: the networks it serves, by x402 version (2, and 1 where its `/supported` lists v1 kinds).
    private let ready: Mutex<[[Int: Set<String>]]>
    private let breakers: Mutex<[CircuitBreaker]>

    /// - Parameter metrics: told of every `supported`, `verify` and `settle` call made to a member.
    public init(_ members: [Member], metrics: (any FacilitatorMetricsSink)? = nil) {
        self.members = members
        self.callable = members.map { member in
            metrics.map { MeteredFacilitator(base: member.facilitator, label: Self.metricLabel(member.facilitator.name), sink: $0) }
                ?? member.facilitator
        }
        self.ready = Mutex(Array(repeating: [:], count: members.count))
        self.breakers = Mutex(members.map { CircuitBreaker(settings: $0.breaker) })
    }

    /// Records the outcome of one verify or settle call; a breaker that opens takes the facilitator
    /// out of rotation at once, so later requests fail fast (503) instead of each waiting for a timeout.
    /// Returns true when this call opened it.
    @discardableResult
    public func record(_ name: String, failure: RailFailure?, latencyMillis: Int64, now: Double) -> Bool {
        guard let index = members.firstIndex(where: { $0.facilitator.name == name }) else { return false }
        let (opened, isOpen) = breakers.withLock { breakers in
            let opened = breakers[index].record(failed: failure != nil, unreachable: failure?.code == .unreachable,
                                                latencyMillis: latencyMillis, now: now)
            return (opened, breakers[index].isOpen)
        }
        if isOpen { ready.withLock { $0[index] = [:] } }
        return opened
    }

    /// Facilitators whose breaker is open (for status and metrics).
    public var openBreakers: [String] {
        let states = breakers.withLock { $0 }
        return members.indices.filter { states[$0].isOpen }.map { members[$0].facilitator.name }
    }

    /// Facilitators that may be asked about `network` in x402 `version`, in configuration order.
    public func candidates(for network: String, version: Int = X402.version) -> [any Facilitator] {
        let ready = self.ready.withLock { $0 }
        return callable.indices.compactMap { ready[$0][version]?.contains(network) == true ? callable[$0] : nil }
    }

    /// The member named `name`, whether or not it is ready: resolving a settlement asks the authority that was
    /// asked first, even while its breaker is open.
    public func member(named name: String) -> (any Facilitator)? {
        if let index = members.firstIndex(where: { $0.facilitator.name == name }) { return callable[index] }
        // An authority recorded before facilitator names dropped the credentials and query of their URLs.
        guard let shown = HTTPOrigin(baseURL: name)?.shown, shown != name else { return nil }
        return members.firstIndex(where: { $0.facilitator.name == shown }).map { callable[$0] }
    }

    /// Networks some facilitator currently serves (x402 v2).
    public var readyNetworks: Set<String> { readyNetworks(version: X402.version) }

    /// Networks some facilitator currently serves in x402 `version`.
    public func readyNetworks(version: Int) -> Set<String> {
        ready.withLock { $0.reduce(into: Set<String>()) { $0.formUnion($1[version] ?? []) } }
    }

    public func isReady(network: String, version: Int = X402.version) -> Bool {
        ready.withLock { sets in sets.contains { $0[version]?.contains(network) == true } }
    }

    /// Asks every facilitator what it supports. Returns the networks that are ready afterwards.
    @discardableResult
    public func refresh(logger: Logger) async -> Set<String> {
        let now = ContinuousClock.seconds
        for (index, member) in members.enumerated() {
            // An open breaker stays open for its interval; then this check is its half-open probe.
            guard breakers.withLock({ $0[index].mayProbe(now: now) }) else { continue }
            var networks: Set<String> = []
            var v1Networks: Set<String> = []
            do {
                let supported = try await callable[index].supported(logger: logger)
                let offered = Set(supported.kinds.filter { $0.x402Version == X402.version && $0.scheme == "exact" }.map(\.network))
                networks = FacilitatorNetworks.served(configured: member.networks, offered: offered)
                // v1 kinds name their network the v1 way (`base-sepolia`); some facilitators use CAIP-2 there too.
                let offeredV1 = Set(supported.kinds.filter { $0.x402Version == X402V1.version && $0.scheme == "exact" }
                    .compactMap { X402V1.Networks.caip2($0.network) })
                v1Networks = FacilitatorNetworks.served(configured: member.networks, offered: offeredV1)
                let missing = member.networks.subtracting(offered.union(offeredV1))
                if !missing.isEmpty {
                    logger.error("facilitator does not support configured networks", metadata: [
                        "tollgate.facilitator": "\(member.facilitator.name)", "tollgate.networks": "\(missing.sorted())",
                    ])
                }
            } catch {
                logger.error("facilitator check failed", metadata: ["tollgate.facilitator": "\(member.facilitator.name)", "tollgate.error": "\(error)"])
            }
            if !networks.isEmpty || !v1Networks.isEmpty { breakers.withLock { $0[index].close() } }
            ready.withLock { $0[index] = [X402.version: networks, X402V1.version: v1Networks] }
        }
        return readyNetworks
    }
}

/// Runs the start-up check of the facilitators and repeats it: quickly while something is not
/// ready, slowly once everything is.
public struct FacilitatorHealthService: Service {
    let pool: FacilitatorPool
    let expected: Set<String>
    let logger: Logger

    public init(pool: FacilitatorPool, expected: Set<String>, logger: Logger) {
        self.pool = pool
        self.expected = expected
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await loop() }
    }

    private func loop() async {
        var lastRefresh: ContinuousClock.Instant?
        var lastMissing: Set<String>?
        while !Task.isCancelled {
            let missing = expected.subtracting(pool.readyNetworks)
            if !missing.isEmpty || lastRefresh.map({ ContinuousClock.now - $0 >= .seconds(60) }) ?? true {
                let stillMissing = expected.subtracting(await pool.refresh(logger: logger))
                lastRefresh = .now
                if stillMissing != lastMissing {
                    if stillMissing.isEmpty {
                        logger.info("facilitators ready", metadata: ["tollgate.networks": "\(expected.sorted())"])
                    } else {
                        logger.warning("paid routes closed until a facilitator supports them", metadata: ["tollgate.networks": "\(stillMissing.sorted())"])
                    }
                    lastMissing = stillMissing
                }
            }
            do {
                try await Task.sleep(for: .seconds(2))
            } catch {
                return
            }
        }
    }
}

extension ContinuousClock {
    /// Monotonic seconds, for breaker intervals.
    static var seconds: Double {
        (ContinuousClock.now - anchor).inSeconds
    }

    private static let anchor = ContinuousClock.now
}
