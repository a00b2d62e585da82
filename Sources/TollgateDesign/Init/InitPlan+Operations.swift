import Foundation
import TollgateX402

extension InitPlan {
    struct OperationPart {
        var denials = InitDefaults.denials, retentionDays: Int?, archiveDir = InitDefaults.archiveDir
        var facilitators: [String] = [], settle = InitDefaults.settle, refundsAutomatic = true, payoutContact: String?, admin: Admin?
        var listen = InitDefaults.listen, publicURL = "", sqlite = InitDefaults.sqlite, secretEnv = InitDefaults.secretEnv
    }

    // MARK: 6. audit, 7. failures and refunds, and the gateway itself

    static func operations(_ answers: InitAnswers, network: InitNetwork, networkId: String, _ problems: inout InitProblems) -> OperationPart {
        var part = OperationPart()
        let audit = answers.audit
        part.denials = problems.check {
            try InitCheck.choice(audit.denials ?? InitDefaults.denials, ["all", "none"], field: "audit.denials", what: "denial policy")
        } ?? InitDefaults.denials
        if part.denials == "none" {
            problems.add(.conflict("audit.denials", "denials: none would drop 401, 403 and 429 refusals from the audit log, so `tollgate trace` "
                                   + "could not explain them (lint TG114 refuses it); to save space, set a retention instead"))
        }
        part.retentionDays = problems.optional(audit.retentionDays.map(String.init)) {
            try InitCheck.integer($0, in: 1...36_500, field: "audit.retention_days", what: "the retention")
        }
        part.archiveDir = problems.check {
            try InitCheck.nonEmpty(audit.archiveDir ?? InitDefaults.archiveDir, field: "audit.archive_dir", what: "the archive directory")
        } ?? ""

        let failures = answers.failures
        if failures.facilitators == nil && !KnownNetwork.isTestNetwork(networkId) {
            problems.add(.missing("failures.facilitators", "a facilitator for \(networkId): the development facilitator "
                                  + "(the default) settles known test networks only"))
        }
        for url in failures.facilitators ?? InitDefaults.facilitators {
            guard let checked = problems.check({ try InitCheck.url(url, field: "failures.facilitators") }) else { continue }
            if part.facilitators.contains(checked) { problems.add(.conflict("failures.facilitators", "\(checked) is listed twice")) }
            part.facilitators.append(checked)
        }
        if let mainNet = KnownNetwork.named(networkId), mainNet.isMainNet,
           let local = part.facilitators.first(where: { LintContext.isLoopback(url: $0) }) {
            problems.add(.conflict("failures.facilitators", "\(local) is a loopback facilitator: on \(mainNet.name) (a main net) it would deliver "
                                   + "paid answers without settling anything; give a production facilitator URL (lint TG116)"))
        }
        if failures.facilitators?.isEmpty == true {
            problems.add(.invalid("failures.facilitators", "name at least one facilitator: paid routes cannot verify or settle without one"))
        }
        part.settle = problems.check {
            try InitCheck.choice(failures.settle ?? InitDefaults.settle, ["after", "before"], field: "failures.settle", what: "settlement moment")
        } ?? InitDefaults.settle
        part.refundsAutomatic = failures.refunds?.automatic ?? true
        if let contact = failures.refunds?.payoutContact {
            part.payoutContact = contact.trimmingCharacters(in: .whitespaces)
            if part.payoutContact?.isEmpty == true { problems.add(.invalid("failures.refunds.payout_contact", "the payout contact cannot be empty")) }
        }
        if part.settle == "before" && !part.refundsAutomatic && part.payoutContact == nil {
            problems.add(.conflict("failures.refunds.automatic", "with settle: before and no automatic refunds, payments for undelivered work "
                                   + "would be kept with no record: keep automatic refunds or name a payout contact (lint TG111)"))
        }
        let admin = failures.admin ?? .init()
        if admin.enabled ?? true {
            let listen = problems.check {
                try InitCheck.listen(admin.listen ?? InitDefaults.adminListen, loopback: true, field: "failures.admin.listen")
            }
            let tokenEnv = problems.check {
                try InitCheck.environmentName(admin.tokenEnv ?? InitDefaults.adminTokenEnv, field: "failures.admin.token_env")
            }
            if let listen, let tokenEnv { part.admin = Admin(listen: listen, tokenEnv: tokenEnv) }
        }

        let gateway = answers.gateway
        part.listen = problems.check { try InitCheck.listen(gateway.listen ?? InitDefaults.listen, field: "gateway.listen") } ?? InitDefaults.listen
        part.publicURL = problems.check { try InitCheck.url(gateway.publicURL ?? InitDefaults.publicURL(answers), field: "gateway.public_url") } ?? ""
        part.sqlite = problems.check {
            try InitCheck.nonEmpty(gateway.sqlite ?? InitDefaults.sqlite, field: "gateway.sqlite", what: "the database path")
        } ?? ""
        part.secretEnv = problems.check {
            try InitCheck.environmentName(gateway.secretEnv ?? InitDefaults.secretEnv, field: "gateway.secret_env")
        } ?? InitDefaults.secretEnv
        if let admin = part.admin, admin.tokenEnv == part.secretEnv {
            problems.add(.conflict("failures.admin.token_env", "the admin token and the HMAC secret must be different variables"))
        }
        if let admin = part.admin, admin.listen == part.listen {
            problems.add(.conflict("failures.admin.listen", "the admin API needs its own address, not the gateway's (\(part.listen))"))
        }
        return part
    }
}
