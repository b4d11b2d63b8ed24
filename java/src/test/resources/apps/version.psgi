# Says which code and which config answer: the code version of the shared module the base
# vassal preloaded (Deployed::version, when a base preloaded deploy.psgi), and the config's
# APP_VERSION (its env option). Tests of reloads and deploys read both off every answer.
use strict;
use warnings;

sub {
    my $code = defined &Deployed::version ? Deployed::version() : 'none';
    my $body = "code $code config " . ($ENV{APP_VERSION} // 'none') . " pid $$\n";
    [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
