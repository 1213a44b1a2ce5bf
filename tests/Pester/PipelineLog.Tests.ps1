#Requires -Version 7.0
# Progress in Azure DevOps pipeline logs, which drop Write-Progress: with TF_BUILD set, transfers also write
# ##vso[task.setprogress value=N;]text and a plain line to standard output, at most every 10 s and once at the end.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    # About 600 KB of layer through a proxy that sends 200 KB/s: a few seconds, long enough to be seen part done.
    $script:Image = [MobyDistribution.TestBed.FixtureImage]::CreateLargeLayer(600000, 141)
    Publish-MobyFixture $Image $TestBed.Anonymous 'pipeline/app' 'v1' | Out-Null
    $script:Layer = (Get-ImageManifest "$($TestBed.Anonymous.HostPort)/pipeline/app:v1").Layers[0].Digest.ToString()
    $script:Proxy = [MobyDistribution.TestBed.FaultProxy]::Start($TestBed.Anonymous)
    $Proxy.BandwidthLimit = 200000

    # Runs Save-ImageBlob of the layer (its descriptor gives the size) in a fresh, non-interactive pwsh (as the PowerShell@2 task does); returns its stdout lines.
    function Invoke-ChildSave([string] $TfBuild) {
        $dir = New-MobyTempDirectory
        $module = Get-MobyModulePath
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$module'; " +
            "(Get-ImageManifest '$($Proxy.HostPort)/pipeline/app:v1').Layers | Save-ImageBlob -Path '$dir'"
        $pwsh = @(Get-MobyPwshCommand)
        $saved = $env:TF_BUILD
        try {
            if ($TfBuild) { $env:TF_BUILD = $TfBuild } else { Remove-Item Env:TF_BUILD -ErrorAction SilentlyContinue }
            $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1
            $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        } finally {
            if ($null -ne $saved) { $env:TF_BUILD = $saved } else { Remove-Item Env:TF_BUILD -ErrorAction SilentlyContinue }
        }
        $files = @(Get-ChildItem -LiteralPath $dir -File)
        $files | Should -HaveCount 1
        Get-MobySha256 $files[0].FullName | Should -Be $Layer
        return @($out | ForEach-Object { "$_" })
    }
}

AfterAll {
    Remove-MobyTempDirectory
    $Proxy.Dispose()
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Pipeline progress lines' {
    It 'writes setprogress lines that rise to 100, and plain progress lines, when TF_BUILD is set' {
        $lines = Invoke-ChildSave 'True'
        $values = @($lines | Where-Object { $_ -match '^##vso\[task\.setprogress value=(\d+);\]Save-ImageBlob$' } | ForEach-Object { [int] ($_ -replace '^##vso\[task\.setprogress value=(\d+);\].*$', '$1') })
        $values.Count | Should -BeGreaterOrEqual 2 -Because ($lines -join "`n")
        $values[0] | Should -BeLessThan 100 -Because 'the first line is written when the transfer starts'
        for ($i = 1; $i -lt $values.Count; $i++) { $values[$i] | Should -BeGreaterOrEqual $values[$i - 1] }
        $values[-1] | Should -Be 100
        $lines | Where-Object { $_ -match '^Save-ImageBlob: 1 of 1 blobs, .* of .* \(100%\)$' } | Should -Not -BeNullOrEmpty
    }

    It 'writes none of them elsewhere' {
        $lines = Invoke-ChildSave ''
        $lines | Where-Object { $_ -match '##vso|^Save-ImageBlob:' } | Should -BeNullOrEmpty
    }

    It 'does no harm in a host without a console (a runspace a program makes)' {
        $dir = New-MobyTempDirectory
        $saved = $env:TF_BUILD
        $ps = [powershell]::Create()
        try {
            $env:TF_BUILD = 'True'
            $null = $ps.AddScript("Import-Module '$(Get-MobyModulePath)'; (Get-ImageManifest '$($Proxy.HostPort)/pipeline/app:v1').Layers | Save-ImageBlob -Path '$dir' -PassThru")
            $files = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            $ps.HadErrors | Should -BeFalse
            Get-MobySha256 $files[0].FullName | Should -Be $Layer
        } finally {
            $ps.Dispose()
            if ($null -ne $saved) { $env:TF_BUILD = $saved } else { Remove-Item Env:TF_BUILD -ErrorAction SilentlyContinue }
        }
    }
}

Describe 'PipelineProgressLog' {
    BeforeAll {
        $script:Now = [TimeSpan]::Zero
        $script:NewLog = { [MobyDistribution.PowerShell.PipelineProgressLog]::new([TimeSpan]::FromSeconds(10), [Func[TimeSpan]] { $script:Now }) }
    }

    It 'writes at the start, then at most once per interval, never going back, and once at the end' {
        $log = & $NewLog
        $script:Now = [TimeSpan]::Zero
        $log.Next('Copy a to b', '0 of 2 blobs, 1 KiB of 10 KiB', 10, $false) | Should -Be @('##vso[task.setprogress value=10;]Copy a to b', 'Copy a to b: 0 of 2 blobs, 1 KiB of 10 KiB (10%)')
        $script:Now = [TimeSpan]::FromSeconds(9.9)
        $log.Next('Copy a to b', 'later', 50, $false) | Should -BeNullOrEmpty
        $script:Now = [TimeSpan]::FromSeconds(10)
        ($log.Next('Copy a to b', 'later', 50, $false))[0] | Should -Be '##vso[task.setprogress value=50;]Copy a to b'
        # A blob that starts again counts fewer bytes: the bar stays where it was, the plain line says the truth.
        $script:Now = [TimeSpan]::FromSeconds(20)
        $log.Next('Copy a to b', 'restarted', 30, $false) | Should -Be @('##vso[task.setprogress value=50;]Copy a to b', 'Copy a to b: restarted (30%)')
        # The end is written at once, whatever the interval, and only once.
        $script:Now = [TimeSpan]::FromSeconds(21)
        ($log.Next('Copy a to b', 'done', 100, $true))[0] | Should -Be '##vso[task.setprogress value=100;]Copy a to b'
        $log.Next('Copy a to b', 'done', 100, $true) | Should -BeNullOrEmpty
        $script:Now = [TimeSpan]::FromSeconds(60)
        $log.Next('Copy a to b', 'done', 100, $false) | Should -BeNullOrEmpty
    }

    It 'writes only the plain line while the total is unknown, and keeps line breaks out of the logging command' {
        $log = & $NewLog
        $script:Now = [TimeSpan]::Zero
        $log.Next("Export x`n##vso[task.complete result=Failed;]", '3 MiB', -1, $false) |
            Should -Be @('Export x ##vso[task.complete result=Failed;]: 3 MiB')
        $script:Now = [TimeSpan]::FromSeconds(30)
        $log.Next("50%`r`nnext", '1 of 1 blobs', 100, $true) | Should -Be @('##vso[task.setprogress value=100;]50%AZP25%0D%0Anext', '50%  next: 1 of 1 blobs (100%)')
    }
}

Describe 'The mirror step of docs/azure-pipelines.yml' {
    BeforeAll {
        # The inline script of the PowerShell@2 task, as the agent would run it.
        $lines = Get-Content (Join-Path $MobyRepoRoot 'docs/azure-pipelines.yml')
        $task = ($lines | Select-String -Pattern '^\s*- task: PowerShell@2\s*$' | Select-Object -First 1).LineNumber
        $start = ($lines | Select-Object -Skip $task | Select-String -Pattern '^(\s*)script: \|\s*$' | Select-Object -First 1)
        $indent = $start.Matches[0].Groups[1].Value.Length + 2
        $body = for ($j = $task + $start.LineNumber; $j -lt $lines.Count -and ($lines[$j] -eq '' -or $lines[$j] -match "^\s{$indent}"); $j++) { $lines[$j] -replace "^\s{0,$indent}", '' }
        $script:MirrorScript = $body -join "`n"

        $script:Other = New-MobyFixture -Layers 1 -Seed 142
        $anonymous = $TestBed.Anonymous
        $script:V1 = Publish-MobyFixture $Image $anonymous 'mirror/app' 'v1'
        $script:V2 = Publish-MobyFixture $Other $anonymous 'mirror/app' 'v2.0'
        Publish-MobyFixture $Other $anonymous 'mirror/app' 'beta' | Out-Null
        $release = $TestBed.Basic
        $script:Variables = @{
            SOURCE_REGISTRY = $anonymous.HostPort; SOURCE_REGISTRY_USER = 'builder'; SOURCE_REGISTRY_PASSWORD = 'anonymous-registry-ignores-it'
            RELEASE_REGISTRY = $release.HostPort; RELEASE_REGISTRY_USER = $release.Username; RELEASE_REGISTRY_PASSWORD = $release.Password
            IMAGE_REPOSITORY = 'mirror/app'; MIRROR_TAGS = 'v*'; TF_BUILD = 'True'
        }

        # One process per step, the module found on PSModulePath as an installed one would be.
        function Invoke-Step([string] $Script, [hashtable] $Environment) {
            $saved = @{}
            $Environment.PSModulePath = (Split-Path (Split-Path (Get-MobyModulePath))) + [IO.Path]::PathSeparator + $env:PSModulePath
            foreach ($name in $Environment.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); [Environment]::SetEnvironmentVariable($name, $Environment[$name]) }
            try {
                $pwsh = @(Get-MobyPwshCommand)
                $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoLogo -NoProfile -NonInteractive -Command $Script 2>&1
                return [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($out | ForEach-Object { "$_" }) }
            } finally {
                foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
            }
        }
    }

    AfterAll {
        $Other.Dispose()
    }

    It 'copies the tags that match, by digest, with progress in the log; a second run copies nothing' {
        $first = Invoke-Step $MirrorScript $Variables
        $first.ExitCode | Should -Be 0 -Because ($first.Output -join "`n")
        $first.Output | Should -Contain "Mirrored $($Variables.SOURCE_REGISTRY)/mirror/app to $($Variables.RELEASE_REGISTRY)/mirror/app: 2 tags copied, 0 already current."
        $first.Output | Where-Object { $_ -match '^##vso\[task\.setprogress value=100;\]Copy ' } | Should -Not -BeNullOrEmpty
        ($first.Output -join "`n") | Should -Not -Match ([regex]::Escape($Variables.RELEASE_REGISTRY_PASSWORD))

        # What skopeo, an independent client, sees in the release registry.
        $release = $TestBed.Basic
        [MobyDistribution.TestBed.Skopeo]::Digest($release.ImageReference('mirror/app', 'v1'), $release.Credentials) | Should -Be $V1
        [MobyDistribution.TestBed.Skopeo]::Digest($release.ImageReference('mirror/app', 'v2.0'), $release.Credentials) | Should -Be $V2
        [MobyDistribution.TestBed.Skopeo]::ListTags($release.ImageReference('mirror/app', 'v1'), $release.Credentials) | Sort-Object | Should -Be @('v1', 'v2.0')

        $second = Invoke-Step $MirrorScript $Variables
        $second.ExitCode | Should -Be 0 -Because ($second.Output -join "`n")
        $second.Output | Should -Contain "Mirrored $($Variables.SOURCE_REGISTRY)/mirror/app to $($Variables.RELEASE_REGISTRY)/mirror/app: 0 tags copied, 2 already current."
    }
}
