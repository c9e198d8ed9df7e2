import Testing

@testable import GmemStore

/// Each rule of POLICIES.md fires on a minimal log (rule, seq, ranges and related exactly), and
/// stays silent on the nearest well-behaved sequence.
@Suite struct AuditRuleTests {
    /// A TDX Connect TD (PAGE_RELEASE mode) that has mapped and accepted, so pinned, its 64 KiB:
    /// seqs 1…6. Frames from 0x1000.
    static let pinnedTD = """
        {"op":"vm_create","kernel":"rfc-2025","vm":"td","tdx_connect":true}
        {"op":"gmem_create","vm":"td","gmem":"g","size":"0x10000"}
        {"op":"bind","vm":"td","gmem":"g","slot":1,"gpa":"0x80000000","size":"0x10000","offset":"0x0"}
        {"op":"populate","gmem":"g","offset":"0x0","size":"0x10000","pfn":"0x1000"}
        {"op":"map","gmem":"g","offset":"0x0","size":"0x10000"}
        {"op":"accept","gmem":"g","offset":"0x0","size":"0x10000"}

        """

    /// The same without TDX Connect: accepting pins nothing.
    static let plainTD = pinnedTD.replacingOccurrences(of: "\"tdx_connect\":true", with: "\"tdx_connect\":false")

    /// A software-protected VM with an mmap-able gmem of four shared pages, page 1 pinned by GUP:
    /// seqs 1…3.
    static let gupPinned = """
        {"op":"vm_create","kernel":"rfc-2025","vm":"sw","type":"sw_protected"}
        {"op":"gmem_create","vm":"sw","gmem":"g","size":"0x4000","flags":["mmap","init_shared"]}
        {"op":"pin","gmem":"g","offset":"0x1000","size":"0x1000","holder":"gup"}

        """

    static func only(_ rule: String, _ findings: [Finding]) -> [Finding] { findings.filter { $0.rule == rule } }

    // MARK: GM-R01

    @Test func r01FiresOnSharedRequestOfPinnedPages() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"convert_request","vm":"td","gpa":"0x80002000","size":"0x2000","to":"shared"}
            """)
        #expect(findings.count == 1)
        let finding = try #require(findings.first)
        #expect(finding.rule == "GM-R01" && finding.severity == .critical)
        #expect(finding.seq == 7)
        #expect(finding.ranges == [fileRange("g", 0x2000, 0x2000)])
        #expect(finding.related == [6])
        #expect(finding.vm == "td")
    }

    @Test func r01SilentWhenTheGuestReleasesFirst() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x2000","size":"0x2000","holder":"td"}
            {"op":"convert_request","vm":"td","gpa":"0x80002000","size":"0x2000","to":"shared"}
            {"op":"convert","gmem":"g","offset":"0x2000","size":"0x2000","to":"shared","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R02

    @Test func r02FiresOnZapOfMappedTDPinnedPages() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x4000","reason":"host"}
            """)
        #expect(findings.map(\.rule) == ["GM-R02"])
        #expect(findings[0].seq == 7)
        #expect(findings[0].ranges == [fileRange("g", 0, 0x4000)])
        #expect(findings[0].related == [6])
    }

    @Test func r02SilentAfterReleaseAndRequest() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x4000","holder":"td"}
            {"op":"convert_request","vm":"td","gpa":"0x80000000","size":"0x4000","to":"shared"}
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x4000","reason":"convert"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R03

    @Test func r03FiresOnRetryBeforeTheUnpin() throws {
        let findings = try auditLog(Self.gupPinned + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private","result":"EAGAIN","error_offset":"0x1000"}
            {"op":"convert","gmem":"g","offset":"0x1000","size":"0x1000","to":"private","result":"EAGAIN","error_offset":"0x1000"}
            """)
        let retries = Self.only("GM-R03", findings)
        #expect(retries.count == 1)
        #expect(retries.first?.seq == 5)
        #expect(retries.first?.ranges == [fileRange("g", 0x1000, 0x1000)])
        #expect(retries.first?.related == [3, 4])
    }

    @Test func r03FiresOnRepeatedFailedZapOfTDPinnedPage() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x1000","result":"EIO"}
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x2000","result":"EIO"}
            """)
        let retries = Self.only("GM-R03", findings)
        #expect(retries.map(\.seq) == [8])
        #expect(retries.first?.ranges == [fileRange("g", 0, 0x1000)])
        #expect(retries.first?.related == [6, 7])
    }

    @Test func r03SilentWhenTheRetryFollowsTheUnpin() throws {
        let findings = try auditLog(Self.gupPinned + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private","result":"EAGAIN","error_offset":"0x1000"}
            {"op":"release","gmem":"g","offset":"0x1000","size":"0x1000","holder":"gup"}
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private","result":"ok"}
            """)
        #expect(Self.only("GM-R03", findings).isEmpty)
        #expect(findings.map(\.rule) == ["GM-R06"])
    }

    // MARK: GM-R04

    @Test func r04FiresOnUnrequestedPunchHole() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x2000","result":"ok"}
            """)
        #expect(findings.map(\.rule) == ["GM-R04"])
        #expect(findings[0].seq == 7)
        #expect(findings[0].ranges == [fileRange("g", 0, 0x2000)])
        #expect(findings[0].related == [5])
    }

    @Test func r04SilentWhenTheGuestAsked() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"convert_request","vm":"td","gpa":"0x80000000","size":"0x2000","to":"shared"}
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x2000","result":"ok"}
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x2000","to":"shared","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    @Test func r04SilentOnTeardownZap() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"vm_bugged","vm":"td"}
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x10000","reason":"teardown"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R05

    @Test func r05FiresOnReuseOfAQuarantinedFrame() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x1000","to":"shared","result":"EIO"}
            {"op":"reuse","pfn":"0x1000","npages":2,"owner":"other"}
            """)
        let reuse = Self.only("GM-R05", findings)
        #expect(reuse.count == 1)
        #expect(reuse.first?.seq == 8)
        #expect(reuse.first?.severity == .critical)
        // Both frames still back mapped, td-pinned pages; the first is also quarantined.
        #expect(reuse.first?.ranges == [fileRange("g", 0, 0x2000)])
        #expect(reuse.first?.related == [5, 6, 7])
        #expect(reuse.first?.vm == "td")
    }

    @Test func r05SilentOnReuseOfAFreedFrame() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x1000","holder":"td"}
            {"op":"convert_request","vm":"td","gpa":"0x80000000","size":"0x1000","to":"shared"}
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}
            {"op":"reuse","pfn":"0x1000","npages":1,"owner":"other"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R06

    @Test func r06FiresOnConvertOverAGupPin() throws {
        let findings = try auditLog(Self.gupPinned + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private","result":"EAGAIN","error_offset":"0x1000"}
            """)
        #expect(findings.map(\.rule) == ["GM-R06"])
        #expect(findings[0].seq == 4)
        #expect(findings[0].ranges == [fileRange("g", 0x1000, 0x1000)])
        #expect(findings[0].related == [3])
    }

    @Test func r06SilentAfterTheUnpin() throws {
        let findings = try auditLog(Self.gupPinned + """
            {"op":"release","gmem":"g","offset":"0x1000","size":"0x1000","holder":"gup"}
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R07

    @Test func r07FiresCriticalWhenPrivateMemoryWasReadable() throws {
        let findings = try auditLog("""
            {"op":"vm_create","kernel":"rfc-2025","vm":"sw","type":"sw_protected"}
            {"op":"gmem_create","vm":"sw","gmem":"g","size":"0x4000","flags":["mmap"]}
            {"op":"host_access","gmem":"g","offset":"0x0","size":"0x1000","result":"SIGBUS"}
            {"op":"host_access","gmem":"g","offset":"0x1000","size":"0x1000","result":"ok"}
            """)
        let access = Self.only("GM-R07", findings)
        #expect(access.map(\.seq) == [3, 4])
        #expect(access.map(\.severity) == [.error, .critical])
        #expect(access.map(\.ranges) == [[fileRange("g", 0, 0x1000)], [fileRange("g", 0x1000, 0x1000)]])
        #expect(access.map(\.related) == [[2], [2]])
        // The readable private page is also a divergence from the model's SIGBUS.
        #expect(Self.only("GM-R11", findings).map(\.seq) == [4])
    }

    @Test func r07SilentOnSharedPages() throws {
        let findings = try auditLog("""
            {"op":"vm_create","kernel":"rfc-2025","vm":"sw","type":"sw_protected"}
            {"op":"gmem_create","vm":"sw","gmem":"g","size":"0x4000","flags":["mmap","init_shared"]}
            {"op":"host_access","gmem":"g","offset":"0x0","size":"0x4000","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R08

    @Test func r08FiresOnCloseWithPinsHeld() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x8000","holder":"td"}
            {"op":"gmem_close","gmem":"g"}
            """)
        #expect(findings.map(\.rule) == ["GM-R08"])
        #expect(findings[0].seq == 8)
        #expect(findings[0].ranges == [fileRange("g", 0x8000, 0x8000)])
        #expect(findings[0].related == [6])
    }

    @Test func r08FiresOnReleaseOfAHostPinNeverTaken() throws {
        let findings = try auditLog(Self.gupPinned + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x2000","holder":"gup","result":"EINVAL"}
            """)
        #expect(findings.map(\.rule) == ["GM-R08"])
        #expect(findings[0].seq == 4)
        #expect(findings[0].ranges == [fileRange("g", 0, 0x1000)])
        #expect(findings[0].related == [])
    }

    @Test func r08SilentWhenEverythingIsReleasedFirst() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x10000","holder":"td"}
            {"op":"vm_destroy","vm":"td"}
            {"op":"gmem_close","gmem":"g"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R09

    @Test func r09FiresOnSuccessClaimedOnABuggedVM() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"vm_bugged","vm":"td"}
            {"op":"map","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}
            """)
        let dead = Self.only("GM-R09", findings)
        #expect(dead.map(\.seq) == [8])
        #expect(dead.first?.ranges == [fileRange("g", 0, 0x1000)])
        #expect(dead.first?.related == [7])
    }

    @Test func r09SilentOnRefusedOpsAndFileOps() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"vm_bugged","vm":"td"}
            {"op":"map","gmem":"g","offset":"0x0","size":"0x1000","result":"EIO"}
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x10000","reason":"teardown","result":"ok"}
            {"op":"punch_hole","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}
            {"op":"vm_destroy","vm":"td","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R10

    @Test func r10FiresOnDMAMapOfAPrivatePage() throws {
        let findings = try auditLog("""
            {"op":"vm_create","kernel":"rfc-2025","vm":"sw","type":"sw_protected"}
            {"op":"gmem_create","vm":"sw","gmem":"g","size":"0x4000","flags":["mmap","init_shared"]}
            {"op":"convert","gmem":"g","offset":"0x2000","size":"0x2000","to":"private","result":"ok"}
            {"op":"pin","gmem":"g","offset":"0x1000","size":"0x2000","holder":"iommu"}
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x2000","to":"private","result":"EAGAIN","error_offset":"0x1000"}
            """)
        let dma = Self.only("GM-R10", findings)
        #expect(dma.map(\.seq) == [4, 5])
        #expect(dma.map(\.ranges) == [[fileRange("g", 0x2000, 0x1000)], [fileRange("g", 0x1000, 0x1000)]])
        #expect(dma.map(\.related) == [[3], [4]])
    }

    @Test func r10SilentWhenUnmappedBeforeConversion() throws {
        let findings = try auditLog("""
            {"op":"vm_create","kernel":"rfc-2025","vm":"sw","type":"sw_protected"}
            {"op":"gmem_create","vm":"sw","gmem":"g","size":"0x4000","flags":["mmap","init_shared"]}
            {"op":"pin","gmem":"g","offset":"0x1000","size":"0x2000","holder":"iommu"}
            {"op":"release","gmem":"g","offset":"0x1000","size":"0x2000","holder":"iommu"}
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x4000","to":"private","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R11

    @Test func r11FiresWhenTheLogContradictsTheModel() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"accept","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}
            """)
        let divergence = Self.only("GM-R11", findings)
        #expect(divergence.map(\.seq) == [7])
        #expect(divergence.first?.ranges == [fileRange("g", 0, 0x1000)])
        #expect(divergence.first?.related == [6])
    }

    @Test func r11SilentWhenTheLogAgrees() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"accept","gmem":"g","offset":"0x0","size":"0x1000","result":"TDX_PAGE_ALREADY_ACCEPTED"}
            {"op":"zap","gmem":"g","offset":"0x0","size":"0x1000","result":"EIO"}
            """)
        #expect(Self.only("GM-R11", findings).isEmpty)
    }

    // MARK: GM-R12

    @Test func r12FiresOnDoubleRelease() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x1000","holder":"td"}
            {"op":"release","gmem":"g","offset":"0x0","size":"0x2000","holder":"td","result":"TDX_OPERAND_INVALID"}
            """)
        #expect(findings.map(\.rule) == ["GM-R12"])
        #expect(findings[0].seq == 8)
        #expect(findings[0].ranges == [fileRange("g", 0, 0x1000)])
        #expect(findings[0].related == [7])
    }

    @Test func r12SilentOnAcceptReleaseAccept() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"release","gmem":"g","offset":"0x0","size":"0x1000","holder":"td"}
            {"op":"accept","gmem":"g","offset":"0x0","size":"0x1000","result":"ok"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R13

    @Test func r13FiresOnAGpaNoMemslotBinds() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"unbind","vm":"td","slot":1,"result":"ok"}
            {"op":"map","vm":"td","gpa":"0x80001000","size":"0x1000"}
            """)
        let unresolved = Self.only("GM-R13", findings)
        #expect(unresolved.map(\.seq) == [8])
        #expect(unresolved.first?.ranges == [FindingRange(vm: "td", gpa: 0x8000_1000, size: 0x1000)])
        #expect(unresolved.first?.related == [7])
        #expect(unresolved.first?.gmem == nil)
    }

    @Test func r13SilentOnABoundGpa() throws {
        let findings = try auditLog(Self.plainTD + """
            {"op":"map","vm":"td","gpa":"0x80001000","size":"0x1000"}
            """)
        #expect(findings.isEmpty)
    }

    // MARK: GM-R14

    @Test func r14FiresOnReuseOfFramesAClosedFileLeftQuarantined() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x1000","to":"shared","result":"EIO"}
            {"op":"vm_destroy","vm":"td","result":"ok"}
            {"op":"gmem_close","gmem":"g","result":"ok"}
            {"op":"reuse","pfn":"0x1000","npages":4,"owner":"other"}
            """)
        let exits = Self.only("GM-R14", findings)
        #expect(exits.map(\.seq) == [10])
        #expect(exits.first?.ranges == [fileRange("g", 0, 0x1000)])
        #expect(exits.first?.related == [7, 9])
        #expect(exits.first?.severity == .critical)
    }

    @Test func r14SilentWhileTheFileIsStillOpen() throws {
        let findings = try auditLog(Self.pinnedTD + """
            {"op":"convert","gmem":"g","offset":"0x0","size":"0x1000","to":"shared","result":"EIO"}
            {"op":"reuse","pfn":"0x1000","npages":1,"owner":"other"}
            """)
        #expect(Self.only("GM-R14", findings).isEmpty)
        #expect(Self.only("GM-R05", findings).map(\.seq) == [8])
    }

    @Test func everyRuleIsRegisteredOnceInIdOrder() {
        let ids = RuleCatalog.all.map(\.id)
        #expect(ids == (1...15).map { String(format: "GM-R%02d", $0) })
        #expect(Set(RuleCatalog.all.map(\.name)).count == 15)
    }
}
