; Inno Setup script for Hark on Windows: installs the one-folder bundle for the current user.
;
;   pyinstaller --noconfirm packaging\hark.spec            (makes dist\hark\)
;   iscc packaging\windows\hark.iss                         (makes dist\hark-setup-<version>.exe)
;
; The bundle holds hark.exe (console: `hark doctor`, `hark ask`, ...) and hark-tray.exe (the tray
; app, no console window); the Start-menu entry and the optional login task start hark-tray.exe.
; Pass the version with iscc /DAppVersion=0.1.0 (default below). No administrator rights are
; needed: everything goes under the user's profile, like the Linux install.sh.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Hark"
#define BundleDir "..\..\dist\hark"

[Setup]
; a fixed AppId lets a later setup upgrade this installation in place
AppId={{6C1F0E52-3B0A-4B7E-9E55-2F8A1D4C7B11}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The Hark authors
AppComments=Talk to your computer; Hark answers out loud
DefaultDirName={localappdata}\Programs\Hark
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=hark-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\hark-tray.exe
; a running Hark holds its files open: ask it to close before files are replaced or removed
CloseApplications=yes
LicenseFile=..\..\LICENSE

[Tasks]
Name: "autostart"; Description: "Start Hark when I log in"; GroupDescription: "Start:"; Flags: unchecked
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; an upgrade replaces the whole bundle: no library of the old version stays behind
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\hark-tray.exe"; Parameters: "tray"; Comment: "Talk to your computer; Hark answers out loud"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\hark-tray.exe"; Parameters: "tray"; Tasks: desktopicon
; the login task: a shortcut in the user's Startup folder (shell:startup), removed on uninstall
Name: "{userstartup}\{#AppName}"; Filename: "{app}\hark-tray.exe"; Parameters: "tray"; Tasks: autostart

[Registry]
; `hark` in a new terminal: the install folder on the user's PATH (removed again on uninstall)
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\hark-tray.exe"; Parameters: "tray"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; settings and data (under %LOCALAPPDATA%\hark) stay, like uninstall.sh without --purge
Type: filesandordirs; Name: "{app}\_internal"

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Path, Dir: string;
  Start: Integer;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
    exit;
  Dir := ExpandConstant('{app}');
  Start := Pos(';' + Uppercase(Dir), Uppercase(Path));
  if Start > 0 then
  begin
    Delete(Path, Start, Length(Dir) + 1);
    RegWriteExpandStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path);
  end;
end;
