import Foundation
import TollgateCore

extension InitPlan {
    /// Checks `answers` and applies the defaults (`InitDefaults`); throws every problem at once.
    public init(_ answers: InitAnswers) throws(InitAnswersError) {
        var problems = InitProblems()
        let resource = Self.resource(answers, &problems)
        let identity = Self.identity(answers, &problems)
        let anonymous = identity.identities.contains(.anonymous)
        let billing = Self.billing(answers, anonymous: anonymous, &problems)
        let permissions = Self.permissions(answers, readOnly: resource.readOnly, method: resource.method, anonymous: anonymous, &problems)
        let limits = Self.limits(answers, identified: identity.identities.contains { $0 != .anonymous }, decimals: billing.asset.decimals,
                                 &problems)
        let operations = Self.operations(answers, network: billing.network, networkId: billing.asset.network, &problems)
        guard problems.list.isEmpty else { throw InitAnswersError(problems.list) }
        self.init(
            resource: resource.name, upstream: resource.upstream, paths: resource.paths, description: resource.description,
            readOnly: resource.readOnly, method: resource.method, mimeType: resource.mimeType,
            callers: identity.callers, identities: identity.identities, clients: identity.clients, jwt: identity.jwt,
            unit: billing.unit, price: billing.price, routePrice: billing.routePrice, network: billing.network, asset: billing.asset,
            payTo: billing.payTo, quantity: billing.quantity, records: billing.records, workSecondsHeader: billing.workSecondsHeader,
            packageSize: billing.packageSize,
            scopes: permissions.scopes, scope: permissions.scope, writeScope: permissions.writeScope, actionScopes: permissions.actionScopes,
            privateFields: permissions.privateFields,
            unpaid: limits.unpaid, paid: limits.paid, invalid: limits.invalid, spendCap: limits.spendCap, quota: limits.quota,
            auditDenials: operations.denials, retentionDays: operations.retentionDays, archiveDir: operations.archiveDir,
            facilitators: operations.facilitators, settle: operations.settle, refundsAutomatic: operations.refundsAutomatic,
            payoutContact: operations.payoutContact, admin: operations.admin,
            listen: operations.listen, publicURL: operations.publicURL, sqlite: operations.sqlite, secretEnv: operations.secretEnv)
    }

    // MARK: 1. the resource

    struct ResourcePart {
        var name = "", upstream = "", paths: [String] = [], description = "", readOnly = true, method = "GET", mimeType = ""
    }

    static func resource(_ answers: InitAnswers, _ problems: inout InitProblems) -> ResourcePart {
        let given = answers.resource
        var part = ResourcePart()
        part.name = problems.required(given.name, "resource.name", "the resource id, e.g. datasets") {
            try InitCheck.identifier($0, field: "resource.name", what: "the resource id")
        } ?? ""
        part.upstream = problems.required(given.upstream, "resource.upstream", "the upstream API's base URL, e.g. http://127.0.0.1:8403") {
            try InitCheck.url($0, field: "resource.upstream")
        } ?? ""
        let paths = given.paths ?? InitDefaults.paths(answers)
        if paths.isEmpty { problems.add(.invalid("resource.paths", "name at least one path pattern, e.g. /datasets/*")) }
        for path in paths {
            if let pattern = problems.check({ try InitCheck.pathPattern(path, field: "resource.paths") }), !part.paths.contains(pattern) {
                part.paths.append(pattern)
            }
        }
        part.description = problems.optional(given.description) {
            try InitCheck.nonEmpty($0, field: "resource.description", what: "the description")
        } ?? part.name
        part.readOnly = given.readOnly ?? true
        part.method = problems.check { try InitCheck.method(given.method ?? InitDefaults.method(answers), field: "resource.method") } ?? "GET"
        part.mimeType = problems.check { try InitCheck.mimeType(given.mimeType ?? InitDefaults.mimeType, field: "resource.mime_type") } ?? ""
        return part
    }

    // MARK: 2. callers and identity

    struct IdentityPart {
        var callers: [InitCaller] = [], identities: [InitIdentity] = [], clients: [Client] = [], jwt: JWT?
    }

    static func identity(_ answers: InitAnswers, _ problems: inout InitProblems) -> IdentityPart {
        var part = IdentityPart()
        if let callers = answers.callers {
            for text in callers {
                let raw = problems.check {
                    try InitCheck.choice(text, InitCaller.allCases.map(\.rawValue), aliases: InitCaller.aliases, field: "callers", what: "caller")
                }
                if let caller = raw.flatMap(InitCaller.init(rawValue:)), !part.callers.contains(caller) { part.callers.append(caller) }
            }
            if callers.isEmpty { problems.add(.invalid("callers", "name at least one caller: human, script, agent, integration")) }
        } else {
            problems.add(.missing("callers", "who sends requests: human, script, agent, integration (several allowed)"))
        }
        if let methods = answers.identity.methods {
            for text in methods {
                let raw = problems.check {
                    try InitCheck.choice(text, InitIdentity.allCases.map(\.rawValue), aliases: InitIdentity.aliases, field: "identity.methods",
                                         what: "identity")
                }
                if let identity = raw.flatMap(InitIdentity.init(rawValue:)), !part.identities.contains(identity) { part.identities.append(identity) }
            }
            if methods.isEmpty { problems.add(.invalid("identity.methods", "choose at least one: anonymous, api_keys, jwt")) }
        } else {
            part.identities = InitIdentity.suggested(for: part.callers)
        }
        part.identities.sort { InitIdentity.allCases.firstIndex(of: $0)! < InitIdentity.allCases.firstIndex(of: $1)! }

        if part.identities.contains(.apiKeys) {
            let clients = answers.identity.apiClients ?? InitDefaults.apiClientIds(answers).map { InitAnswers.APIClient(id: $0) }
            if clients.isEmpty { problems.add(.invalid("identity.api_clients", "with api_keys, name at least one API client")) }
            for (index, client) in clients.enumerated() {
                let field = "identity.api_clients[\(index)]"
                guard let id = problems.check({ try InitCheck.identifier(client.id, field: "\(field).id", what: "the client id") }) else { continue }
                if id == "anonymous" { problems.add(.invalid("\(field).id", "anonymous is reserved for callers without a key")) }
                if part.clients.contains(where: { $0.id == id }) { problems.add(.conflict("\(field).id", "the client id \(id) is used twice")) }
                let scopes = (client.scopes ?? InitDefaults.clientScopes(answers)).compactMap { scope in
                    problems.check { try InitCheck.scope(scope, field: "\(field).scopes") }
                }
                let organisation = problems.optional(client.organisation) {
                    try InitCheck.identifier($0, field: "\(field).organisation", what: "the organisation")
                }
                part.clients.append(Client(id: id, scopes: scopes, organisation: organisation))
            }
        } else if !(answers.identity.apiClients ?? []).isEmpty {
            problems.add(.conflict("identity.api_clients", "API clients need api_keys among identity.methods"))
        }

        if part.identities.contains(.jwt) {
            let given = answers.identity.jwt ?? .init()
            let issuer = problems.required(given.issuer, "identity.jwt.issuer", "the identity provider's issuer (iss), e.g. https://idp.example.com/") {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let audience = (given.audience ?? answers.resource.name ?? "").trimmingCharacters(in: .whitespaces)
            if audience.isEmpty { problems.add(.missing("identity.jwt.audience", "the audience (aud) the tokens are issued for")) }
            let jwks = problems.required(given.jwksFile, "identity.jwt.jwks_file", "a JWKS file with the identity provider's keys") {
                $0.trimmingCharacters(in: .whitespaces)
            }
            if issuer?.isEmpty == true { problems.add(.invalid("identity.jwt.issuer", "the issuer cannot be empty")) }
            if jwks?.isEmpty == true { problems.add(.invalid("identity.jwt.jwks_file", "the JWKS file cannot be empty")) }
            if let issuer, let jwks { part.jwt = JWT(issuer: issuer, audience: audience, jwksFile: jwks) }
        } else if answers.identity.jwt != nil {
            problems.add(.conflict("identity.jwt", "JWT settings need jwt among identity.methods"))
        }
        return part
    }
}
