# An app that puts an encoding layer on STDERR when it is loaded, as
# Catalyst does, and dies with a wide character.
use strict;
use warnings;
binmode STDERR, ':encoding(UTF-8)';
warn "loading with \x{263a} on STDERR\n";
sub {
    my ($env) = @_;
    die "died with \x{263a}\n" if $env->{PATH_INFO} eq '/die';
    [200, ['Content-Type' => 'text/plain'], ["ok\n"]];
};
