#Requires -Version 7.0
# Sync-RegistryRepository against real registries, checked with skopeo and counted through the test bed's FaultProxy.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Fixtures = 81..84 | ForEach-Object { New-MobyFixture -Layers 1 -Seed $_ }
    $script:Anon = $TestBed.Anonymous.HostPort
    $script:Basic = $TestBed.Basic
    # The source: three tags on three manifests.
    $script:Digests = [ordered]@{}
    foreach ($i in 0..2) { $Digests["v$($i + 1)"] = Publish-MobyFixture $Fixtures[$i] $TestBed.Anonymous 'sync/app' "v$($i + 1)" }
    $script:Proxy = [MobyDistribution.TestBed.FaultProxy]::Start($TestBed.Anonymous)
    $script:Via = $Proxy.HostPort
    Connect-MobyTestRegistry $TestBed.Anonymous | Out-Null
    Connect-MobyTestRegistry $Basic | Out-Null
    Connect-Registry -Registry $Via | Out-Null

    function Get-SkopeoDigest([string] $Reference, $Credentials = $null) {
        if (-not $Credentials) { $Credentials = [NullString]::Value }
        [MobyDistribution.TestBed.Skopeo]::Digest("docker://$Reference", $Credentials)
    }
    function Get-SkopeoTags([string] $Repository) { @([MobyDistribution.TestBed.Skopeo]::ListTags("docker://$Repository", [NullString]::Value) | Sort-Object) }
    function New-Name([string] $Prefix) { "$Prefix-$([guid]::NewGuid().ToString('N').Substring(0, 8))" }
}

AfterAll {
    Get-RegistrySession | ForEach-Object { Disconnect-Registry -Registry $_.Registry }
    $Proxy.Dispose()
    $TestBed.Dispose()
    $Fixtures | ForEach-Object { $_.Dispose() }
}

Describe 'Sync-RegistryRepository' {
    It 'copies every tag on the first sync, and skopeo finds the digests at the destination' {
        $dst = New-Name 'mirror/first'
        $results = @(Sync-RegistryRepository -Source "$Anon/sync/app" -Destination "$($Basic.HostPort)/$dst")
        $results | Should -HaveCount 3
        $results[0] | Should -BeOfType ([MobyDistribution.PowerShell.SyncResult])
        $results[0].PSTypeNames[0] | Should -Be 'MobyDistribution.SyncResult'
        foreach ($r in $results) {
            $r.Action | Should -Be 'Copied'
            $r.Digest.ToString() | Should -Be $Digests[$r.Tag]
            $r.Source.ToString() | Should -Be "$Anon/sync/app:$($r.Tag)"
            $r.Destination.ToString() | Should -Be "$($Basic.HostPort)/${dst}:$($r.Tag)"
            $r.BytesTransferred | Should -BeGreaterThan 0
            Get-SkopeoDigest "$($Basic.HostPort)/${dst}:$($r.Tag)" $Basic.Credentials | Should -Be $Digests[$r.Tag]
        }
        # The table view fits 80 columns without losing the action, tag or short digest.
        $lines = ($results | Format-Table | Out-String -Width 80) -split "`n" | Where-Object { $_ -match 'Copied' }
        $lines | Should -HaveCount 3
        $lines[0] | Should -Match 'Copied\s+v\d\s+sha256:[0-9a-f]{12}'
    }

    It 'gives all Unchanged on a resync where nothing changed, for one HEAD per side per tag' {
        $dst = New-Name 'mirror/resync'
        Sync-RegistryRepository "$Via/sync/app" "$Via/$dst" | Out-Null
        $Proxy.ClearLog()
        $again = @(Sync-RegistryRepository "$Via/sync/app" "$Via/$dst")
        $again.Action | Sort-Object -Unique | Should -Be 'Unchanged'
        $again.BytesTransferred | Measure-Object -Sum | ForEach-Object Sum | Should -Be 0
        $log = $Proxy.Log
        foreach ($tag in $Digests.Keys) {
            @($log | Where-Object { $_.Method -eq 'HEAD' -and $_.Path -eq "/v2/sync/app/manifests/$tag" }) | Should -HaveCount 1
            @($log | Where-Object { $_.Method -eq 'HEAD' -and $_.Path -eq "/v2/$dst/manifests/$tag" }) | Should -HaveCount 1
        }
        @($log | Where-Object { $_.Endpoint -in 'manifest', 'blob', 'upload' }) | Should -HaveCount (2 * $Digests.Count)
    }

    It 'updates a changed tag and leaves the others' {
        $src = New-Name 'sync/changing'
        Publish-MobyFixture $Fixtures[0] $TestBed.Anonymous $src 'a' | Out-Null
        $before = Publish-MobyFixture $Fixtures[1] $TestBed.Anonymous $src 'b'
        $dst = New-Name 'mirror/changing'
        Sync-RegistryRepository "$Anon/$src" "$Anon/$dst" | Out-Null
        $after = Publish-MobyFixture $Fixtures[2] $TestBed.Anonymous $src 'b'
        $after | Should -Not -Be $before

        $results = Sync-RegistryRepository "$Anon/$src" "$Anon/$dst"
        ($results | Where-Object Tag -eq 'a').Action | Should -Be 'Unchanged'
        ($results | Where-Object Tag -eq 'b').Action | Should -Be 'Updated'
        ($results | Where-Object Tag -eq 'b').Digest.ToString() | Should -Be $after
        Get-SkopeoDigest "$Anon/${dst}:b" | Should -Be $after
    }

    It 'selects tags with -Include and -Exclude wildcards' {
        $dst = New-Name 'mirror/selected'
        $results = @(Sync-RegistryRepository "$Anon/sync/app" "$Anon/$dst" -Include 'v*' -Exclude '*2')
        $results.Tag | Should -Be @('v1', 'v3')
        Get-SkopeoTags "$Anon/$dst" | Should -Be @('v1', 'v3')
    }

    It 'prints the plan with -WhatIf and changes nothing; -Prune removes a tag missing from the source' {
        $dst = New-Name 'mirror/pruned'
        Sync-RegistryRepository "$Anon/sync/app" "$Anon/$dst" | Out-Null
        # A tag only the destination has, on a manifest no other tag uses (today's untag deletes the manifest), and a tag
        # the destination lost.
        Publish-MobyFixture $Fixtures[3] $TestBed.Anonymous $dst 'old' | Out-Null
        Remove-RegistryTag "$Anon/${dst}:v2" -Confirm:$false

        # What-if lines go to the host: a transcript catches them.
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "sync-whatif-$([guid]::NewGuid().ToString('N')).txt"
        Start-Transcript -Path $transcript | Out-Null
        try { Sync-RegistryRepository "$Anon/sync/app" "$Anon/$dst" -Prune -WhatIf | Should -BeNullOrEmpty } finally { Stop-Transcript | Out-Null }
        $plan = Get-Content $transcript -Raw
        Remove-Item $transcript
        $plan | Should -Match "What if: .*Prune.*$([regex]::Escape("$Anon/${dst}:old"))"
        $plan | Should -Match "What if: .*Copy.*$([regex]::Escape("$Anon/${dst}:v2"))"
        $plan | Should -Match "What if: .*Leave unchanged.*$([regex]::Escape("$Anon/${dst}:v1"))"
        Get-SkopeoTags "$Anon/$dst" | Should -Be @('old', 'v1', 'v3')

        $results = @(Sync-RegistryRepository "$Anon/sync/app" "$Anon/$dst" -Prune -Force)
        ($results | Where-Object Tag -eq 'old').Action | Should -Be 'Pruned'
        ($results | Where-Object Tag -eq 'v2').Action | Should -Be 'Copied'
        Get-SkopeoTags "$Anon/$dst" | Should -Be @('v1', 'v2', 'v3')
    }

    It 'writes one error for a tag whose manifest always fails, and syncs the others' {
        $dst = New-Name 'mirror/failing'
        $rule = $Proxy.AddRule([MobyDistribution.TestBed.FaultRule]::Status(500, '*', '^/v2/sync/app/manifests/v2$').Always())
        try {
            $results = @(Sync-RegistryRepository "$Via/sync/app" "$Via/$dst" -MaximumRetryCount 0 -ErrorVariable failures -ErrorAction SilentlyContinue)
        } finally {
            $Proxy.ClearRules()
        }
        $rule.Applied | Should -BeGreaterThan 0
        $failures | Should -HaveCount 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'RegistryServerError,*'
        $failures[0].TargetObject.ToString() | Should -Be "$Via/sync/app:v2"
        ($results | Where-Object Tag -eq 'v2').Action | Should -Be 'Failed'
        foreach ($tag in 'v1', 'v3') {
            ($results | Where-Object Tag -eq $tag).Action | Should -Be 'Copied'
            Get-SkopeoDigest "$Anon/${dst}:$tag" | Should -Be $Digests[$tag]
        }
    }

    It 'splits the tags with -Shard into disjoint shares whose union is the whole' {
        $shares = foreach ($i in 1..3) {
            $dst = New-Name "mirror/shard$i"
            , @(Sync-RegistryRepository "$Anon/sync/app" "$Anon/$dst" -Shard "$i/3" | ForEach-Object Tag)
        }
        $all = @($shares | ForEach-Object { $_ })
        $all | Should -HaveCount 3
        $all | Sort-Object | Should -Be @('v1', 'v2', 'v3')
    }

    It 'refuses a share that is not i/n with 1 <= i <= n' -TestCases @(@{ Shard = '0/3' }, @{ Shard = '4/3' }, @{ Shard = 'two' }) {
        { Sync-RegistryRepository "$Anon/sync/app" "$Anon/mirror/never" -Shard $Shard } | Should -Throw -ErrorId 'InvalidShard,*'
    }

    It 'refuses a version range that does not parse, before anything is copied' {
        $target = New-Name 'semver'
        { Sync-RegistryRepository "$Anon/sync/app" "$Anon/$target" -SemVer '>=1.2.x.y <<' } | Should -Throw -ErrorId 'InvalidTagSelection,*'
        (Get-RegistryCatalog $Anon).Repository | Should -Not -Contain $target
    }

    It 'syncs repositories piped from Get-RegistryCatalog under a prefix' {
        $prefix = New-Name 'prefix'
        $results = @(Get-RegistryCatalog $Anon | Where-Object Repository -eq 'sync/app' | Sync-RegistryRepository -Destination "$Anon/$prefix")
        $results | Should -HaveCount 3
        $results[0].Destination.WithoutReference().ToString() | Should -Be "$Anon/$prefix/sync/app"
        Get-SkopeoDigest "$Anon/$prefix/sync/app:v1" | Should -Be $Digests['v1']
    }

    It 'writes results that bind to Copy-RegistryImage and Remove-RegistryTag by property name' {
        $dst = New-Name 'mirror/bound'
        $results = @(Sync-RegistryRepository "$Anon/sync/app" "$Anon/$dst" -Include 'v1', 'v3')
        $copies = @($results | Copy-RegistryImage -Destination "$Anon/$dst-copy")
        $copies | ForEach-Object { $_.Source.ToString() } | Should -Be @("$Anon/sync/app:v1", "$Anon/sync/app:v3")
        Get-SkopeoDigest "$Anon/$dst-copy:v3" | Should -Be $Digests['v3']

        $results | Where-Object Tag -eq 'v3' | Remove-RegistryTag -Confirm:$false
        Get-SkopeoTags "$Anon/$dst" | Should -Be @('v1')
    }

    It 'shows one overall progress bar, tags done of total, and completes it' {
        $dst = New-Name 'mirror/progress'
        $ps = [powershell]::Create()
        try {
            $ps.AddScript("Import-Module '$(Get-MobyModulePath)'; `$ProgressPreference = 'Continue'; Sync-RegistryRepository '$Anon/sync/app' '$Anon/$dst'") | Out-Null
            $out = $ps.Invoke()
            $out | Should -HaveCount 3
            $records = @($ps.Streams.Progress)
        } finally { $ps.Dispose() }
        $records.ActivityId | Sort-Object -Unique | Should -Be 1
        @($records | Where-Object StatusDescription -eq '3 of 3 tags') | Should -Not -BeNullOrEmpty
        $records[-1].RecordType | Should -Be 'Completed'
    }

    It 'refuses a destination with a tag' {
        Sync-RegistryRepository "$Anon/sync/app" "$Anon/mirror/x:v1" -ErrorVariable bad -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'InvalidDestination,*'
    }
}
