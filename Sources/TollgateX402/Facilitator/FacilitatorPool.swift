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
        public init(facilitator: any Facilitator, networks: Set<String>) {
            self.facilitator = facilitator
            self.networks = networks
        }
    }

    public let members: [Member]
    private let ready: Mutex<[Set<String>]>

    public init(_ members: [Member]) {
        self.members = members
        self.ready = Mutex(Array(repeating: [], count: members.count))
    }

    /// Facilitators that may be asked about `network`, in configuration order.
    public func candidates(for network: String) -> [any Facilitator] {
        let ready = self.ready.withLock { $0 }
        return members.indices.filter { ready[$0].contains(network) }.map { members[$0].facilitator }
    }

    /// Takes a facilitator out of rotation after a transport failure, so later requests fail fast
    /// (503) instead of each waiting for a timeout; the health check puts it back once `/supported` answers.
    public func markUnavailable(_ name: String) {
        ready.withLock { sets in
            for index in members.indices where members[index].facilitator.name == name { sets[index] = [] }
        }
    }

    /// Networks some facilitator currently serves.
    public var readyNetworks: Set<String> {
        ready.withLock { $0.reduce(into: Set<String>()) { $0.formUnion($1) } }
    }

    public func isReady(network: String) -> Bool {
        ready.withLock { sets in sets.contains { $0.contains(network) } }
    }

    /// Asks every facilitator what it supports. Returns the networks that are ready afterwards.
    @discardableResult
    public func refresh(logger: Logger) async -> Set<String> {
        for (index, member) in members.enumerated() {
            var networks: Set<String> = []
            do {
                let supported = try await member.facilitator.supported(logger: logger)
                let offered = Set(supported.kinds.filter { $0.x402Version == X402.version && $0.scheme == "exact" }.map(\.network))
                networks = member.networks.isEmpty ? offered : member.networks.intersection(offered)
                let missing = member.networks.subtracting(offered)
                if !missing.isEmpty {
                    logger.error("facilitator does not support configured networks", metadata: [
                        "tollgate.facilitator": "\(member.facilitator.name)", "tollgate.networks": "\(missing.sorted())",
                    ])
                }
            } catch {
                logger.error("facilitator check failed", metadata: ["tollgate.facilitator": "\(member.facilitator.name)", "tollgate.error": "\(error)"])
            }
            ready.withLock { $0[index] = networks }
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
        try await cancelWhenGracefulShutdown { await loop() }
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
