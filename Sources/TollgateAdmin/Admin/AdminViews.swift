import TollgateCore

/// Request and response bodies of the admin API.
struct RevocationRequest: AdminRequestBody {
    static let fields: Set<String> = ["kind", "subject", "reason"]
    var kind: String
    var subject: String
    var reason: String
}

struct IncidentRequest: AdminRequestBody {
    static let fields: Set<String> = ["route", "reason"]
    /// A route resource id; null or absent for every paid route.
    var route: String?
    var reason: String
}

struct RevocationView: Codable, Hashable {
    var kind: String
    var subject: String
    var reason: String?
}

struct LiftedRevocationView: Codable, Hashable {
    var kind: String
    var subject: String
    var lifted: Bool
}

struct IncidentView: Codable, Hashable {
    /// `global` or the route resource id.
    var scope: String
    var id: String
    var reason: String
    var sinceMillis: Int64

    init(scope: String?, _ incident: Incident) {
        self.scope = scope ?? "global"
        id = incident.id
        reason = incident.reason
        sinceMillis = incident.sinceMillis
    }
}

/// `GET /admin/status`: what is in force, sorted so the answer is stable.
struct AdminStatusView: Codable, Hashable {
    var revocations: [RevocationView]
    var incidents: [IncidentView]
    /// Whether the store answers; when it does not, the controls shown are the ones this instance enforces (its last
    /// successful read).
    var store: StoreHealth?

    init(_ snapshot: ControlsSnapshot, store: StoreHealth? = nil) {
        self.store = store
        revocations = snapshot.revokedClients.sorted { $0.key < $1.key }.map { RevocationView(kind: "client", subject: $0.key, reason: $0.value) }
            + snapshot.revokedPayers.sorted { $0.key < $1.key }.map { RevocationView(kind: "payer", subject: $0.key, reason: $0.value) }
        incidents = (snapshot.globalIncident.map { [IncidentView(scope: nil, $0)] } ?? [])
            + snapshot.routeIncidents.sorted { $0.key < $1.key }.map { IncidentView(scope: $0.key, $0.value) }
    }
}
