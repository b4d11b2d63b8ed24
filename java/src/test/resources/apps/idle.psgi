# hello.psgi that declares itself idle: psgi-vassal has no `idle` option yet
# (issue 3 adds idle + die-on-idle), so this app's load-time code, in the vassal's
# master, sends byte 22 on the Emperor pipe 1.5 s after the vassal starts (SIGALRM).
use strict;
use warnings;
use Time::HiRes ();

if (defined $ENV{UWSGI_EMPEROR_FD}) {
    open(our $EMPEROR, '>&=', $ENV{UWSGI_EMPEROR_FD}) or die "idle.psgi: Emperor fd: $!";
    my $master = $$;
    $SIG{ALRM} = sub { syswrite $EMPEROR, chr(22) if $$ == $master };
    Time::HiRes::alarm(1.5);
}

sub {
    my $body = "Hello from pid $$\n";
    [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
