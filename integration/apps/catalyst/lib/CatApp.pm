package CatApp;
use Moose;
use namespace::autoclean;
use File::Basename ();
use File::Spec ();

use Catalyst::Runtime 5.80;
use Catalyst;    # no plugins, no -Debug

extends 'Catalyst';

our $VERSION = '0.01';

# app.psgi sets $CatApp::HOME; fall back to the directory above lib/.
our $HOME;
$HOME //= File::Basename::dirname(
    File::Basename::dirname(File::Spec->rel2abs(__FILE__)));

__PACKAGE__->config(
    name     => 'CatApp',
    home     => $HOME,
    root     => "$HOME/root",
    encoding => 'UTF-8',
    disable_component_resolution_regex_fallback => 1,
    enable_catalyst_header => 1,    # X-Catalyst response header
);

__PACKAGE__->setup();

1;
