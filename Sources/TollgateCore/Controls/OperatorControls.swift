import Synchronization

/// What operators switch at run time: revoked clients and payers, and incidents that close paid
/// routes. Read on every request (a lock and a set lookup); written by the admin API and by the
/// refresher that copies the store's state, so every instance sees a change within a second.
public final class OperatorControls: Sendable {
    private let state = Mutex(ControlsSnapshot())

    public init(_ snapshot: ControlsSnapshot = ControlsSnapshot()) {
        state.withLock { $0 = snapshot }
    }

    public var snapshot: ControlsSnapshot { state.withLock { $0 } }

    public func replace(with snapshot: ControlsSnapshot) {
        state.withLock { $0 = snapshot }
    }

    public func isRevoked(client: String) -> Bool {
        state.withLock { $0.revokedClients.keys.contains(client) }
    }

    public func isRevoked(payer: String) -> Bool {
        let payer = payer.lowercased()
        return state.withLock { $0.revokedPayers.keys.contains(payer) }
    }

    /// The incident that closes `resource`, global or for that route.
    public func incident(for resource: String) -> Incident? {
        state.withLock { $0.globalIncident ?? $0.routeIncidents[resource] }
    }
}

/// The operator state at one moment.
public struct ControlsSnapshot: Sendable, Hashable, Codable {
    /// Revoked client ids → why.
    public var revokedClients: [String: String]
    /// Revoked payer addresses (lowercase) → why.
    public var revokedPayers: [String: String]
    public var globalIncident: Incident?
    /// Incidents by route resource id.
    public var routeIncidents: [String: Incident]

    public init(revokedClients: [String: String] = [:], revokedPayers: [String: String] = [:], globalIncident: Incident? = nil,
                routeIncidents: [String: Incident] = [:]) {
        self.revokedClients = revokedClients
        self.revokedPayers = revokedPayers
        self.globalIncident = globalIncident
        self.routeIncidents = routeIncidents
    }
}

/// An incident switch that is on: paid routes answer 503 with its id, no offers, no settlements.
public struct Incident: Sendable, Hashable, Codable {
    public var id: String
    public var reason: String
    public var sinceMillis: Int64

    public init(id: String, reason: String, sinceMillis: Int64) {
        self.id = id
        self.reason = reason
        self.sinceMillis = sinceMillis
    }
}

extension ControlsSnapshot {
    /// How a store records the global incident's scope; a route incident's scope is its resource id.
    public static let globalScope = "global"

    /// A revocation in force, as a store reads it (`kind` is a `RevocationKind`; an unknown one is ignored).
    public mutating func addRevocation(kind: String, subject: String, reason: String) {
        switch RevocationKind(rawValue: kind) {
        case .client: revokedClients[subject] = reason
        case .payer: revokedPayers[subject] = reason
        case nil: break
        }
    }

    /// An incident in force, as a store reads it.
    public mutating func addIncident(_ incident: Incident, scope: String) {
        if scope == Self.globalScope {
            globalIncident = incident
        } else {
            routeIncidents[scope] = incident
        }
    }
}
