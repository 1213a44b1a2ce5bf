#Requires -Version 7.0
# Pipelines and agents (pwsh -NonInteractive, runspaces without a UI): deletions never wait for an answer nobody can give.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 81
    $script:Reg = $TestBed.Anonymous.HostPort
    foreach ($tag in 'a', 'b', 'c') { Publish-MobyFixture $Image $TestBed.Anonymous "unattended/$tag" 'v1' | Out-Null }

    function Invoke-Pwsh([string] $Command) {
        $pwsh = [Environment]::ProcessPath
        $pre = @()
        if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { $pre = @(Join-Path $PSHOME 'pwsh.dll') }
        & $pwsh @pre -NoProfile -NonInteractive -Command $Command 2>&1
    }
}

AfterAll {
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Deleting without a person at the keyboard' {
    It 'Remove-RegistryTag in pwsh -NonInteractive deletes without prompting' {
        $out = Invoke-Pwsh "Import-Module '$(Get-MobyModulePath)'; Remove-RegistryTag -Repository $Reg/unattended/a -Name v1; 'exit:' + `$?"
        ($out -join "`n") | Should -Match 'exit:True'
        ($out -join "`n") | Should -Not -Match 'NonInteractive'
        Get-RegistryTag "$Reg/unattended/a" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'still only describes with -WhatIf' {
        $out = Invoke-Pwsh "Import-Module '$(Get-MobyModulePath)'; Remove-ImageManifest $Reg/unattended/b:v1 -WhatIf"
        ($out -join "`n") | Should -Match 'What if'
        (Get-RegistryTag "$Reg/unattended/b").Tag | Should -Be 'v1'
    }

    It 'deletes in a runspace without a UI' {
        $ps = [PowerShell]::Create()
        try {
            $null = $ps.AddScript({
                param($Module, $Reference)
                Import-Module $Module
                Remove-ImageManifest $Reference -WarningAction SilentlyContinue
            }).AddArgument((Get-MobyModulePath)).AddArgument("$Reg/unattended/c:v1")
            $null = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
        } finally { $ps.Dispose() }
        Get-RegistryTag "$Reg/unattended/c" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}
