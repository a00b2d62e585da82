extension InitInterview {
    /// The seven questions of docs/init.md, in order.
    static var sections: [InitSection] { [
        InitSection(title: "What is protected?", note: "The API behind the gateway and the paths that are sold.") { _ in
            [
                InitQuestion(.resourceName, "Resource id (a short name for offers, audit log and ledger), e.g. datasets"),
                InitQuestion(.upstream, "Upstream URL (the API's base URL), e.g. http://127.0.0.1:8403"),
                InitQuestion(.paths, "Path pattern(s), comma-separated (* = one segment, a trailing /* = everything below)"),
                InitQuestion(.description, "Description (shown to payers in the 402 terms)"),
                InitQuestion(.readOnly, "Read-only? (no = it also has write actions: POST, PUT, PATCH, DELETE)"),
                InitQuestion(.method, "HTTP method the routes match (GET, POST, ... or * for any)"),
            ]
        },
        InitSection(title: "Who sends requests?",
                    note: "Agents usually pay anonymously with x402; scripts and integrations use API keys; humans sign in (JWT).") { _ in
            [
                InitQuestion(.callers, "Callers: human, script, agent, integration (comma-separated)"),
                InitQuestion(.identities, "Identify them by: anonymous (x402 payers without an account), api_keys, jwt"),
                InitQuestion(.apiClients, "API clients to create (a key is generated for each, shown once)",
                             when: { InitDefaults.identitiesChosen($0).contains(.apiKeys) }),
                InitQuestion(.jwtIssuer, "JWT issuer (iss), e.g. https://idp.example.com/", when: { InitDefaults.identitiesChosen($0).contains(.jwt) }),
                InitQuestion(.jwtAudience, "JWT audience (aud)", when: { InitDefaults.identitiesChosen($0).contains(.jwt) }),
                InitQuestion(.jwksFile, "JWKS file with the identity provider's public keys", when: { InitDefaults.identitiesChosen($0).contains(.jwt) }),
            ]
        },
        InitSection(title: "What is billed?", note: "Prices are decimal amounts of the token (USDC has 6 decimals).") { _ in
            [
                InitQuestion(.unit, "Unit billed: request, record, file, second, minute, package"),
                InitQuestion(.price, "Price in USDC, e.g. 0.01 (per unit when the quantity comes from the request)"),
                InitQuestion(.network, "Network: base-sepolia (USDC test network) or base (USDC main net)"),
                InitQuestion(.payTo, "Pay to: the 0x address that receives payments"),
                InitQuestion(.quantity, "Quantity from the request: query:NAME (e.g. query:limit), body:PATH, or none (one price per payment)",
                             when: { [.request, .record, .second, .minute].contains(InitDefaults.unit($0)) }),
                InitQuestion(.quantityMax, "Most units one request may buy", when: { $0.billing.quantity != nil }),
                InitQuestion(.quantityDefault, "Units when the request does not say (a number, or none: the request must say)",
                             when: { $0.billing.quantity != nil }),
                InitQuestion(.records, "Records are counted from: header:NAME or json_array:PATH (e.g. json_array:records)",
                             when: { InitDefaults.unit($0) == .record }),
                InitQuestion(.workSecondsHeader, "Header in which the upstream reports seconds of work (or none: the gateway measures latency)",
                             when: { [.second, .minute].contains(InitDefaults.unit($0)) }),
                InitQuestion(.packageSize, "Requests in one package", when: { InitDefaults.unit($0) == .package }),
            ]
        },
        InitSection(title: "Which roles and permissions exist?",
                    note: "Scopes are checked before any price: a caller without one gets 403, never a 402.") { answers in
            var questions = [
                InitQuestion(.scopes, "Scopes your clients already hold, comma-separated (e.g. reports:read), or none"),
                InitQuestion(.scope, "Scope every caller of the resource needs (or none)", when: { !InitDefaults.identitiesChosen($0).contains(.anonymous) }),
                InitQuestion(.writeScope, "Scope the write actions need (or none)", when: { $0.resource.readOnly == false }),
                InitQuestion(.actionScopes, "Other actions with their own scope, e.g. ?export=datasets:export (or none)"),
                InitQuestion(.privateFields, "Private response fields, removed unless the client holds a scope (comma-separated, or none)"),
                InitQuestion(.privateScope, "Scope that may see the private fields", when: { $0.permissions.privateFields != nil }),
            ]
            questions += clientScopeQuestions(answers)
            return questions
        },
        InitSection(title: "Which limits apply?",
                    note: "Rates are RATE/BURST: requests per second and at once, per client, payer and IP; or off.") { _ in
            [
                InitQuestion(.unpaid, "Before payment (requests without a proof, answered 402)"),
                InitQuestion(.paid, "After payment (requests carrying a proof)"),
                InitQuestion(.invalid, "Invalid proofs (refused before they reach the facilitator)"),
                InitQuestion(.spendCap, "Spend cap: the most one spender may pay per period, in USDC (or none)"),
                InitQuestion(.spendCapPer, "Spend cap counted per: client, organisation, payer", when: { $0.limits.spendCap != nil }),
                InitQuestion(.spendCapPeriod, "Spend cap period: day or month", when: { $0.limits.spendCap != nil }),
                InitQuestion(.quota, "Quota: the most units one client may use per period (or none)", when: InitDefaults.identified),
                InitQuestion(.quotaPer, "Quota counted per: client or organisation", when: { $0.limits.quota != nil }),
                InitQuestion(.quotaPeriod, "Quota period: day or month", when: { $0.limits.quota != nil }),
            ]
        },
        InitSection(title: "What must the audit log keep?",
                    note: "Every stage of every flow is an audit event, hash-chained. Every denial (401, 403, 429...) is kept:\n"
                        + "    `tollgate trace` needs them to explain a refusal (lint TG114 refuses denials: none).") { _ in
            [
                InitQuestion(.retentionDays, "Keep events for how many days before archiving them (or forever)"),
                InitQuestion(.archiveDir, "Archive directory", when: { $0.audit.retentionDays != nil }),
            ]
        },
        InitSection(title: "Which failures and refunds must be handled?",
                    note: "Facilitators are tried in order (failover); when none answers, paid requests get 503, never free access.") { _ in
            [
                InitQuestion(.facilitators, "Facilitator URL(s), in failover order, comma-separated"),
                InitQuestion(.settle, "Settle after (only delivered answers are charged) or before (work that cannot be undone)"),
                InitQuestion(.refundsAutomatic, "Record a refund automatically when a settled answer is not delivered?"),
                InitQuestion(.payoutContact, "Who pays refunds out (a team, mailbox or queue, or none)"),
                InitQuestion(.admin, "Admin API on loopback (revocations, incident switch)?"),
                InitQuestion(.adminTokenEnv, "Environment variable holding the admin token", when: { $0.failures.admin?.enabled ?? true }),
            ]
        },
    ] }

    /// "Scopes of API client X" for each client of question 2.
    static func clientScopeQuestions(_ answers: InitAnswers) -> [InitQuestion] {
        guard InitDefaults.identitiesChosen(answers).contains(.apiKeys) else { return [] }
        let ids = answers.identity.apiClients?.map(\.id) ?? InitDefaults.apiClientIds(answers)
        return ids.enumerated().map { index, id in
            let field = "identity.api_clients[\(index)].scopes"
            return InitQuestion(
                prompt: "Scopes held by API client \(id) (comma-separated, or none)", field: field,
                defaultText: { answers in
                    let scopes = answers.identity.apiClients?.first { $0.id == id }?.scopes ?? InitDefaults.clientScopes(answers)
                    return scopes.isEmpty ? "none" : InitField.list(scopes)
                },
                apply: { (text, answers) throws(InitAnswerError) in
                    var scopes: [String] = []
                    for item in InitCheck.list(text) { scopes.append(try InitCheck.scope(item, field: field)) }
                    var clients = answers.identity.apiClients ?? InitDefaults.apiClientIds(answers).map { InitAnswers.APIClient(id: $0) }
                    if let position = clients.firstIndex(where: { $0.id == id }) { clients[position].scopes = scopes }
                    answers.identity.apiClients = clients
                })
        }
    }
}
