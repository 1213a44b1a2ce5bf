#Requires -Version 7.0
# The retry budget per command and per session, against a real registry behind the fault-injecting proxy.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 101
    $script:Digest = Publish-MobyFixture $Image $TestBed.Anonymous 'retry/app' 'v1'
    $script:Proxy = [MobyDistribution.TestBed.FaultProxy]::Start($TestBed.Anonymous)
    $script:Ref = "$($Proxy.HostPort)/retry/app:v1"

    function Add-Failures([int] $Count) {
        $Proxy.ClearRules()
        $null = $Proxy.AddRule([MobyDistribution.TestBed.FaultRule]::Status(503, 'GET', '/manifests/', 1, $Count))
    }
}

AfterAll {
    Disconnect-Registry -Registry $Proxy.HostPort -ErrorAction SilentlyContinue
    $Proxy.Dispose()
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Retry budget' {
    It 'retries a 503 by default and gets the manifest' {
        Add-Failures 2
        (Get-ImageManifest $Ref -Verbose 4>$null).Digest.ToString() | Should -Be $Digest
        ($Proxy.Log | Where-Object { $_.Path -like '*/manifests/*' -and $_.Status -eq 503 }) | Should -HaveCount 2
    }

    It 'gives up at once with -MaximumRetryCount 0, saying why' {
        Add-Failures 1
        Get-ImageManifest $Ref -MaximumRetryCount 0 -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'RegistryServerError*'
        $failed[0].CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $failed[0].Exception.Message | Should -Match '503'
    }

    It 'keeps the budget Connect-Registry gives for the session, and a command can override it' {
        Connect-Registry -Registry $Proxy.HostPort -MaximumRetryCount 0 | Out-Null
        Add-Failures 1
        Get-ImageManifest $Ref -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed[0].CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        Add-Failures 1
        (Get-ImageManifest $Ref -MaximumRetryCount 2).Digest.ToString() | Should -Be $Digest
        Disconnect-Registry -Registry $Proxy.HostPort
    }
}
