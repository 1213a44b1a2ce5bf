#Requires -Version 7.0
# Docker Hub's pull quota (RateLimit-Limit: N;w=SECONDS, RateLimit-Remaining), played by the fault proxy in front of a
# real registry: what Get-RegistrySession shows of it, and what a command does when the quota is spent.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 121
    $script:Digest = Publish-MobyFixture $Image $TestBed.Anonymous 'quota/app' 'v1'

    # A proxy of its own per test: a session (and its recorded quota) belongs to one registry name.
    function Start-QuotaProxy([int] $Limit, [int] $WindowSeconds, [int] $RetryAfterSeconds = -1) {
        $proxy = [MobyDistribution.TestBed.FaultProxy]::Start($TestBed.Anonymous)
        $null = $proxy.AddRule([MobyDistribution.TestBed.FaultRule]::RateLimit($Limit, $WindowSeconds, $RetryAfterSeconds, '*', '/manifests/'))
        $script:Proxies += $proxy
        return $proxy
    }
    $script:Proxies = @()
}

AfterAll {
    foreach ($proxy in $Proxies) {
        Disconnect-Registry -Registry $proxy.HostPort -ErrorAction SilentlyContinue
        $proxy.Dispose()
    }
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Registry rate limits' {
    It 'shows the quota of the last manifest answer in Get-RegistrySession' {
        $proxy = Start-QuotaProxy -Limit 5 -WindowSeconds 21600
        Connect-Registry -Registry $proxy.HostPort | Out-Null
        (Get-RegistrySession -Registry $proxy.HostPort).RateLimit | Should -BeNullOrEmpty

        $before = [DateTimeOffset]::UtcNow
        (Get-ImageManifest "$($proxy.HostPort)/quota/app:v1").Digest.ToString() | Should -Be $Digest
        $session = Get-RegistrySession -Registry $proxy.HostPort
        $session.RateLimit.Limit | Should -Be 5
        $session.RateLimit.Remaining | Should -Be 4
        $session.RateLimit.WindowSeconds | Should -Be 21600
        $session.RateLimit.ObservedAt | Should -BeGreaterOrEqual $before
        ($session | Out-String -Width 80) | Should -Match '4/5 per 6 h'
        ($session | Format-List | Out-String -Width 120) | Should -Match 'RateLimit\s+: 4 of 5 left per 6 h'

        Get-ImageManifest "$($proxy.HostPort)/quota/app:v1" | Out-Null
        (Get-RegistrySession -Registry $proxy.HostPort).RateLimit.Remaining | Should -Be 3
    }

    It 'waits as Retry-After asks when the quota is spent, says so in -Verbose, then gets the manifest' {
        $proxy = Start-QuotaProxy -Limit 1 -WindowSeconds 1 -RetryAfterSeconds 1
        Get-ImageManifest "$($proxy.HostPort)/quota/app:v1" | Out-Null
        $all = Get-ImageManifest "$($proxy.HostPort)/quota/app:v1" -Verbose 4>&1
        $verbose = $all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        ($all | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Digest.ToString() | Should -Be $Digest
        ($verbose -join "`n") | Should -Match 'rate limited \(TOOMANYREQUESTS\); waiting 1 s as Retry-After asks'
        @($proxy.Log | Where-Object Path -like '*/manifests/*' | ForEach-Object Status) | Should -Be @(200, 429, 200)
    }

    It 'fails as RegistryRateLimited naming the quota when it is spent and the registry gives no time' {
        $proxy = Start-QuotaProxy -Limit 1 -WindowSeconds 21600
        Get-ImageManifest "$($proxy.HostPort)/quota/app:v1" | Out-Null
        Get-ImageManifest "$($proxy.HostPort)/quota/app:v1" -MaximumRetryCount 0 -ErrorVariable failed -ErrorAction SilentlyContinue |
            Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RegistryRateLimited*'
        $failed[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
        $failed[0].Exception.Message | Should -Match 'the quota is 1 request per 6 h \(21600 s\), 0 left'
        (Get-RegistrySession -Registry $proxy.HostPort).RateLimit.Remaining | Should -Be 0
    }
}
